"""Shared fixtures: named personas in two organizations, API clients, service guards."""

from __future__ import annotations

import os
import uuid

import pytest
from rest_framework.test import APIClient

from tests.factories import Personas, make_personas


def unavailable(message: str) -> None:
    """A test cannot run here. CI must run every test: fail there, skip locally (the
    embedded fallback of scripts/run-tests.sh)."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def require_service(env_var: str, what: str) -> str:
    """The URL of a real service a test needs."""
    url = os.environ.get(env_var, "")
    if not url:
        unavailable(f"{what} is not configured ({env_var} unset); run the suite with `make test`")
    return url


def require_postgresql(why: str = "needs PostgreSQL") -> None:
    """The test database must be PostgreSQL (DATABASE_URL), not the embedded SQLite."""
    from django.db import connection

    if connection.vendor != "postgresql":
        unavailable(f"{why}: run the suite with `make test` (DATABASE_URL)")


def pytest_sessionfinish(session, exitstatus):
    """Under CI a skipped test is a failed run: the PostgreSQL, Redis, interop and browser
    tests must really run there, whatever made them skip."""
    if os.environ.get("CI") != "true":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped and session.exitstatus == 0:
        reporter.write_line(f"CI: {len(skipped)} test(s) skipped; failing the run", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def vends_of_the_fixed_test_dates_are_accepted(settings):
    from tests.live import VEND_RETENTION_DAYS

    settings.SALES_VEND_RETENTION_DAYS = VEND_RETENTION_DAYS


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Tests create many users; PBKDF2 would dominate the run. Live servers started by the
    tests accept MD5 hashes too (DEBUG + FAST_PASSWORD_HASHING, see vendhub/settings.py)."""
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]


@pytest.fixture(autouse=True)
def fresh_login_throttles(settings):
    """Each test's logins are counted from zero: its throttle counters (vendhub/throttling.py)
    get a key prefix of their own, in Redis too, where other tests' counters and live servers'
    keys live on undisturbed (a flush would wipe those)."""
    throttle = dict(settings.CACHES["throttle"])
    throttle["KEY_PREFIX"] = f"{throttle.get('KEY_PREFIX', '')}:test-{uuid.uuid4().hex}"
    settings.CACHES = {**settings.CACHES, "throttle": throttle}


@pytest.fixture
def redis_url() -> str:
    return require_service("REDIS_URL", "Redis")


@pytest.fixture
def personas(db) -> Personas:
    return make_personas()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def live_server_process(transactional_db):
    """The product server (daphne + vendhub.asgi) in a subprocess, on the test database."""
    from tests.live import LiveServer

    with LiveServer() as server:
        yield server
