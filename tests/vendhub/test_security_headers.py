"""Production mode (DEBUG off) behind a TLS-terminating proxy: Content-Security-Policy on every
page, HSTS on HTTPS responses, `Secure` cookies, and an API docs page that loads nothing from
a CDN."""

from __future__ import annotations

import re

import httpx
import pytest
from django.contrib.staticfiles import finders

from tests.live import LiveServer
from tests.machines.test_settings_from_environment import run_python

PRODUCTION = {"DEBUG": "0", "SECRET_KEY": "headers-test-" + "k" * 40,
              "ALLOWED_HOSTS": "127.0.0.1", "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto"}
VIA_HTTPS = {"X-Forwarded-Proto": "https"}


@pytest.fixture
def production_server(transactional_db):
    with LiveServer(env=PRODUCTION) as server:
        yield server


def get(server: LiveServer, path: str, **headers: str) -> httpx.Response:
    return httpx.get(server.url + path, headers=headers, timeout=10)


def directives(response: httpx.Response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    return {name: values for name, *values in
            (part.split() for part in policy.split(";") if part.strip())}


def test_pages_carry_a_content_security_policy_without_inline_code(production_server):
    for path in ("/login/", "/admin/login/", "/api/v1/docs/"):
        response = get(production_server, path, **VIA_HTTPS)
        assert response.status_code == 200, path
        policy = directives(response)
        assert policy["default-src"] == ["'self'"]
        assert policy["script-src"] == ["'self'"]
        assert policy["style-src"] == ["'self'"]
        assert policy["frame-ancestors"] == ["'none'"]
        assert "https://tile.openstreetmap.org" in policy["img-src"]
        assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]


def test_https_responses_carry_hsts_and_secure_cookies(production_server):
    response = get(production_server, "/login/", **VIA_HTTPS)
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    csrf_cookie = response.headers["Set-Cookie"]
    assert csrf_cookie.startswith("csrftoken=") and "Secure" in csrf_cookie


def test_plain_http_gets_no_hsts(production_server):
    # HSTS over plain HTTP is meaningless (and ignored by browsers): only when the proxy
    # says the client came over HTTPS.
    assert "Strict-Transport-Security" not in get(production_server, "/login/").headers


def test_the_api_docs_page_loads_only_this_servers_static_files(production_server):
    response = get(production_server, "/api/v1/docs/", **VIA_HTTPS)
    page = response.text
    urls = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert urls, page
    for url in urls:
        assert url.startswith(("/static/", "/api/v1/docs/?")), url
    assert "swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower() and "@latest" not in page and "<style" not in page
    script_url = next(url for url in urls if url.startswith("/api/v1/docs/?"))
    script = get(production_server, script_url.replace("&amp;", "&"), **VIA_HTTPS)
    assert script.status_code == 200
    assert script.headers["Content-Type"].startswith("application/javascript")
    assert "/api/v1/schema/" in script.text and "https://" not in script.text
    for url in urls:  # each one a static file of the project (collectstatic serves it)
        if url.startswith("/static/"):
            assert finders.find(url.removeprefix("/static/")), url


PROBE = """
from django.conf import settings
print(settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE, settings.SECURE_HSTS_SECONDS,
      getattr(settings, "SECURE_PROXY_SSL_HEADER", None))
"""


@pytest.mark.parametrize(("env", "expected"), [
    ({"SECRET_KEY": "s"}, "True True 31536000 None"),
    ({"SECRET_KEY": "s", "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto"},
     "True True 31536000 ('HTTP_X_FORWARDED_PROTO', 'https')"),
    ({"SECRET_KEY": "s", "INSECURE_HTTP": "1"}, "False False 0 None"),
    ({"DEBUG": "1"}, "False False 0 None"),
])
def test_secure_cookies_and_hsts_follow_the_environment(env, expected):
    result = run_python(["-c", PROBE], **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected
