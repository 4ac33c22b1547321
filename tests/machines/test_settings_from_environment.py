"""The project is configured from the environment (vendhub/settings.py): embedded defaults
for a fresh checkout, a refusal to start in production without SECRET_KEY.

Each case imports the settings in a fresh interpreter with a controlled environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIGURED = ("DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS",
              "CORS_ALLOWED_ORIGINS", "CORS_ALLOW_ALL_ORIGINS", "FAST_PASSWORD_HASHING")
PROBE = """
import json
from django.conf import settings
print(json.dumps({
    "debug": settings.DEBUG,
    "secret_key": settings.SECRET_KEY,
    "database_engine": settings.DATABASES["default"]["ENGINE"],
    "database_name": str(settings.DATABASES["default"]["NAME"]),
    "channel_layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "allowed_hosts": settings.ALLOWED_HOSTS,
    "cors_allowed_origins": settings.CORS_ALLOWED_ORIGINS,
    "first_app": settings.INSTALLED_APPS[0],
    "asgi_application": settings.ASGI_APPLICATION,
}))
"""


def run_python(argv: list[str], **env: str) -> subprocess.CompletedProcess:
    """`python *argv` in the project with only `env` of the configuration variables."""
    clean = {k: v for k, v in os.environ.items() if k not in CONFIGURED}
    clean["DJANGO_SETTINGS_MODULE"] = "vendhub.settings"
    return subprocess.run([sys.executable, *argv], cwd=ROOT, env={**clean, **env},
                          capture_output=True, text=True, timeout=60)


def load_settings(**env: str) -> subprocess.CompletedProcess:
    return run_python(["-c", PROBE], **env)


def settings_with(**env: str) -> dict:
    result = load_settings(**env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("entry_point", ["vendhub.asgi", "vendhub.wsgi"])
def test_without_secret_key_production_mode_refuses_to_start(entry_point):
    result = run_python(["-c", f"import {entry_point}"])
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


@pytest.mark.parametrize("command", [["check"], ["makemigrations", "--check", "--dry-run"]])
def test_management_commands_run_without_secret_key_in_production_mode(command):
    result = run_python(["manage.py", *command])
    assert result.returncode == 0, result.stderr


def test_debug_mode_gets_a_development_secret_key():
    assert "insecure" in settings_with(DEBUG="1")["secret_key"]


def test_production_mode_uses_the_given_secret_key_and_no_default_hosts():
    loaded = settings_with(SECRET_KEY="a-real-secret")
    assert loaded["debug"] is False and loaded["secret_key"] == "a-real-secret"
    assert loaded["allowed_hosts"] == []


def test_embedded_defaults_are_a_sqlite_file_and_the_in_memory_layer():
    loaded = settings_with(DEBUG="1")
    assert loaded["database_engine"] == "django.db.backends.sqlite3"
    assert Path(loaded["database_name"]).parent == ROOT
    assert loaded["channel_layer"] == "channels.layers.InMemoryChannelLayer"
    assert loaded["allowed_hosts"] == ["127.0.0.1", "localhost", "[::1]"]


def test_database_url_and_redis_url_select_postgresql_and_channels_redis():
    loaded = settings_with(DEBUG="1", DATABASE_URL="postgres://u@db.example:5432/fleet",
                           REDIS_URL="redis://cache.example:6379/2")
    assert loaded["database_engine"] == "django.db.backends.postgresql"
    assert loaded["database_name"] == "fleet"
    assert loaded["channel_layer"] == "channels_redis.core.RedisChannelLayer"


def test_hosts_and_cors_origins_are_comma_separated_lists():
    loaded = settings_with(SECRET_KEY="s", ALLOWED_HOSTS="fleet.example, api.example",
                           CORS_ALLOWED_ORIGINS="https://ops.example,https://m.example")
    assert loaded["allowed_hosts"] == ["fleet.example", "api.example"]
    assert loaded["cors_allowed_origins"] == ["https://ops.example", "https://m.example"]


def test_daphne_serves_the_asgi_application():
    loaded = settings_with(DEBUG="1")
    assert loaded["first_app"] == "daphne"
    assert loaded["asgi_application"] == "vendhub.asgi.application"


@pytest.mark.django_db
def test_an_allowed_origin_gets_cors_headers_on_the_api(settings, client):
    settings.CORS_ALLOWED_ORIGINS = ["https://ops.example"]
    allowed = client.options("/api/v1/machines/", HTTP_ORIGIN="https://ops.example",
                             HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
    assert allowed.headers.get("Access-Control-Allow-Origin") == "https://ops.example"
    other = client.options("/api/v1/machines/", HTTP_ORIGIN="https://evil.example",
                           HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
    assert "Access-Control-Allow-Origin" not in other.headers
