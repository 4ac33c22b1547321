"""The token endpoints are throttled per client address and per username (vendhub/throttling.py),
over the shared cache: Redis under `make test`, as in production."""

from __future__ import annotations

import logging

import httpx
import pytest
from django.core.cache import caches
from rest_framework.test import APIClient

from tests.factories import PASSWORD
from tests.live import LiveServer, free_port

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"


@pytest.fixture
def rates(settings):
    """Sets the throttle rates of the test: rates(login_address="3/min", ...)."""

    def set_rates(**changes: str) -> None:
        unlimited = {"login_address": "1000/min", "login_username": "1000/min",
                     "token_refresh_address": "1000/min"}
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                                   "DEFAULT_THROTTLE_RATES": {**unlimited, **changes}}

    return set_rates


def login(client: APIClient, username: str, password: str = "wrong", **extra):
    return client.post(TOKEN, {"username": username, "password": password}, format="json",
                       **extra)


def assert_throttled(response) -> None:
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response.json()["detail"].startswith("Request was throttled")


def test_logins_beyond_the_rate_of_one_address_get_429_with_retry_after(personas, rates):
    rates(login_address="3/min")
    client = APIClient()
    for n in range(3):
        assert login(client, f"nobody-{n}", REMOTE_ADDR="10.0.0.1").status_code == 401
    assert_throttled(login(client, "acme-operator", PASSWORD, REMOTE_ADDR="10.0.0.1"))
    assert login(client, "acme-operator", PASSWORD, REMOTE_ADDR="10.0.0.2").status_code == 200


def test_logins_beyond_the_rate_of_one_username_get_429_from_any_address(personas, rates):
    rates(login_username="2/min")
    client = APIClient()
    assert login(client, "acme-operator", REMOTE_ADDR="10.0.0.1").status_code == 401
    assert login(client, "ACME-Operator ", REMOTE_ADDR="10.0.0.2").status_code == 401
    assert_throttled(login(client, "acme-operator", PASSWORD, REMOTE_ADDR="10.0.0.3"))
    assert login(client, "acme-manager", PASSWORD, REMOTE_ADDR="10.0.0.3").status_code == 200


def test_a_client_cannot_pick_its_address_with_x_forwarded_for(personas, rates):
    rates(login_address="2/min")
    client = APIClient()
    for n in range(2):
        response = login(client, "nobody", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
        assert response.status_code == 401
    assert_throttled(login(client, "nobody", HTTP_X_FORWARDED_FOR="198.51.100.9"))


def test_behind_a_trusted_proxy_the_address_it_saw_is_the_client(personas, rates, settings):
    rates(login_address="2/min")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    client = APIClient()
    for n in range(4):  # four clients behind the proxy, each within its budget
        response = login(client, "nobody", REMOTE_ADDR="10.0.0.1",
                         HTTP_X_FORWARDED_FOR=f"6.6.6.6, 198.51.100.{n}")
        assert response.status_code == 401
    assert login(client, "nobody", REMOTE_ADDR="10.0.0.1",
                 HTTP_X_FORWARDED_FOR="198.51.100.0").status_code == 401
    assert_throttled(login(client, "nobody", REMOTE_ADDR="10.0.0.1",
                           HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.0"))


def test_token_refreshes_are_throttled_per_address(personas, rates):
    rates(token_refresh_address="2/min")
    client = APIClient()
    refresh = login(client, "acme-operator", PASSWORD).json()["refresh"]
    for _ in range(2):
        assert client.post(REFRESH, {"refresh": refresh}, format="json").status_code == 200
    assert_throttled(client.post(REFRESH, {"refresh": refresh}, format="json"))
    assert login(client, "acme-operator", PASSWORD).status_code == 200  # its own budget


def test_a_body_without_a_username_is_a_400_naming_it_not_a_throttle_error(personas, rates):
    rates(login_username="1/min")
    client = APIClient()
    for body in ({"password": "x"}, {"username": ["a"], "password": "x"}, ["a"]):
        response = client.post(TOKEN, body, format="json")
        assert response.status_code == 400, body


def test_with_the_throttle_cache_down_logins_still_work_and_a_warning_is_logged(
        personas, rates, settings, caplog):
    rates(login_address="1/min", login_username="1/min")
    settings.CACHES = {**settings.CACHES, "throttle": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }}
    client = APIClient()
    with caplog.at_level(logging.WARNING, logger="vendhub.throttling"):
        assert login(client, "acme-operator").status_code == 401
        assert login(client, "acme-operator", PASSWORD).status_code == 200
    assert "the throttle cache failed (ConnectionError" in caplog.text
    assert "request let through" in caplog.text


@pytest.mark.redis
def test_the_counters_live_in_redis_under_the_deployments_prefix(personas, rates, redis_url):
    rates(login_address="5/min")
    login(APIClient(), "nobody")
    throttle = caches["throttle"]
    assert type(throttle).__name__ == "RedisCache"
    client = throttle._cache.get_client(None)
    prefix = throttle.key_prefix
    assert prefix.startswith("vendhub:throttle:test-")
    assert [key.decode() for key in client.scan_iter(f"{prefix}:*")]


@pytest.mark.redis
@pytest.mark.postgres
def test_several_server_processes_share_the_counters(live_server_db, rates, redis_url):
    """Two server processes on one Redis: attempts on either count against one budget."""
    env = {"LOGIN_RATE_PER_ADDRESS": "1000/min", "LOGIN_RATE_PER_USERNAME": "3/min",
           "CHANNEL_LAYER_PREFIX": f"vendhub-throttle-{free_port()}"}
    with LiveServer(env=env) as first, LiveServer(env=env) as second:
        statuses = [
            httpx.post(f"{server.url}{TOKEN}", json={"username": "acme-operator",
                                                     "password": "wrong"}, timeout=20)
            .status_code
            for server in (first, second, first, second)
        ]
    assert statuses == [401, 401, 401, 429]


@pytest.fixture
def live_server_db(transactional_db, personas):
    from tests.conftest import require_postgresql

    require_postgresql("two server processes on one database")
    return personas
