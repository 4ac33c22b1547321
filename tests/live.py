"""Real server processes for interop and end-to-end tests.

`LiveServer` starts `vendhub.asgi` under daphne in a subprocess on a free loopback port,
pointed at the test database pytest-django created, and stops it afterwards.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from django.db import connection

# Test servers take their ports as the cluster's processes do: below the ephemeral range.
from vendhub.cluster_processes import free_port  # noqa: F401  (tests import it from here)

ROOT = Path(__file__).resolve().parent.parent


#: Live servers log the tests' personas in many times a minute from 127.0.0.1, and share
#: their throttle counters in Redis: no login throttle unless a test sets its rates.
UNTHROTTLED_LOGINS = {name: "1000000/min" for name in (
    "LOGIN_RATE_PER_ADDRESS", "LOGIN_RATE_PER_USERNAME", "TOKEN_REFRESH_RATE_PER_ADDRESS")}
#: The tests date vends on fixed days (tests/sales/conftest.py EPOCH is 2026-01-01), and
#: ingestion refuses vends older than the retention counted from today: widened by the
#: days since 2025-01-01, it keeps those dates accepted as the calendar moves on.
VEND_RETENTION_DAYS = 400 + (datetime.now(UTC).date() - date(2025, 1, 1)).days


def test_database_url() -> str:
    """DATABASE_URL of the test database the current test run uses."""
    settings = connection.settings_dict
    if settings["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{settings['NAME']}"
    user = settings.get("USER") or "postgres"
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings['NAME']}"


def conformance_argv(port: int, server: str = "daphne") -> list[str]:
    """`manage.py conformance_server` on `port` under `server`, daphne or uvicorn (see
    realtime/server/conformance.py)."""
    return [sys.executable, "manage.py", "conformance_server", "--port", str(port),
            "--server", server]


class LiveServer:
    """A server subprocess on a free port. `argv` is a command line, or a function of the
    port that returns one (e.g. `conformance_argv`); the default is the product server."""

    def __init__(self, *, env: dict[str, str] | None = None,
                 argv: list[str] | Callable[[int], list[str]] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.env = {**os.environ, "DATABASE_URL": test_database_url(), "DEBUG": "1",
                    "FAST_PASSWORD_HASHING": "1", **UNTHROTTLED_LOGINS,
                    "SALES_VEND_RETENTION_DAYS": str(VEND_RETENTION_DAYS),
                    "PYTHONUNBUFFERED": "1", **(env or {})}
        if callable(argv):
            argv = argv(self.port)
        self.argv = argv or [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p",
                             str(self.port), "vendhub.asgi:application"]
        self.log_path = ROOT / "test-artifacts" / f"server-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 20.0) -> LiveServer:
        self.log_path.parent.mkdir(exist_ok=True)
        with open(self.log_path, "wb") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
