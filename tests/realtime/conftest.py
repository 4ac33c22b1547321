"""Fixtures of the gateway tests: the conformance server, tokens, server logs."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from tests.live import LiveServer, conformance_argv


@pytest.fixture(scope="session")
def conformance_daphne():
    """`manage.py conformance_server` under daphne, in a subprocess; it needs no database."""
    with LiveServer(argv=lambda port: conformance_argv(port, "daphne")) as server:
        yield server


@pytest.fixture(scope="session")
def conformance_uvicorn():
    """`manage.py conformance_server --server uvicorn`, in a subprocess."""
    with LiveServer(argv=lambda port: conformance_argv(port, "uvicorn")) as server:
        yield server


@pytest.fixture(params=["daphne", "uvicorn"])
def conformance_server(request):
    """The conformance server under daphne, then under uvicorn: each test that uses it runs
    on both. Parametrized per test, over two servers started once per session: a
    session-scoped parametrized fixture would make pytest regroup the whole session's tests
    by server, in an order other modules' tests do not expect."""
    return request.getfixturevalue(f"conformance_{request.param}")


def token_for(user, *, lifetime: timedelta | None = None) -> str:
    token = AccessToken.for_user(user)
    if lifetime is not None:
        token.set_exp(lifetime=lifetime)
    return str(token)


def expired_token_for(user) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=timedelta(seconds=-10))
    return str(token)


def wait_for_log(server: LiveServer, text: str, timeout: float = 5.0) -> str:
    """Wait until the server's log contains `text`; returns the log."""
    deadline = time.monotonic() + timeout
    while True:
        log = server.log()
        if text in log:
            return log
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not logged within {timeout}s; log tail:\n{log[-3000:]}")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def product_server(django_db_setup, django_db_blocker):
    """The product server (daphne + vendhub.asgi) on the test database, shared by the tests of
    the session: it keeps no state between connections, and starting one per test costs
    seconds. Tests still get a fresh, committed database through `transactional_db`."""
    if not os.environ.get("REDIS_URL"):
        yield None  # `redis_url` skips (or fails under CI) the tests that need it
        return
    with LiveServer() as server:
        yield server


@pytest.fixture
def gateway(redis_url, transactional_db, personas, product_server):
    """The product server (subprocess, test database, Redis) with the personas and tokens."""
    from tests.realtime.product import Gateway

    gateway = Gateway(product_server, personas)
    for name in ("manager", "operator", "viewer", "stranger"):
        gateway.tokens[name] = token_for(getattr(personas, name))
    return gateway


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Personas get passwords; the gateway never checks one, so hash them cheaply."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def second_gateway(gateway):
    """Server B: another product server process on the same database and Redis."""
    from tests.realtime.product import Gateway

    with LiveServer() as server:
        yield Gateway(server, gateway.people, gateway.tokens)


@pytest.fixture
def short_window_gateway(gateway):
    """A product server whose sessions stay recoverable for 1.5 s only (connection state
    recovery, `REALTIME_RECOVERY_WINDOW_MS`)."""
    from tests.realtime.product import Gateway

    with LiveServer(env={"REALTIME_RECOVERY_WINDOW_MS": "1500"}) as server:
        yield Gateway(server, gateway.people, gateway.tokens)


@pytest.fixture
def memory_history(monkeypatch):
    """An in-memory recovery history in place of Redis's, for the recovery path and the
    live-session records alike."""
    from realtime.server.history import MemoryEventHistory
    from realtime.server.sio import records
    from realtime.server.sio import recovery as sio_recovery

    history = MemoryEventHistory(max_entries=50)
    monkeypatch.setattr(sio_recovery, "get_history", lambda: history)
    monkeypatch.setattr(records, "get_history", lambda: history)
    return history
