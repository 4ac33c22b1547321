"""Fixtures of the gateway tests: the conformance server, tokens, server logs."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from tests.live import LiveServer, conformance_argv


@pytest.fixture(scope="session")
def conformance_server():
    """`manage.py conformance_server` in a subprocess; it needs no database."""
    with LiveServer(argv=conformance_argv) as server:
        yield server


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
