"""Fixtures of the telemetry tests: device keys, a device client, captured broadcasts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from realtime import broadcast
from telemetry.device_keys import issue_device_key

#: A fixed "now" for tests that pass `now` explicitly.
T0 = datetime(2026, 3, 1, 9, 0, 0, tzinfo=UTC)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def reading_body(machine, *, at: datetime | None = None, status: str = "online",
                 temperature: float | None = 21.5, humidity: float | None = 40.0,
                 bunkers: dict | None = None, errors: list | None = None, **extra) -> dict:
    """A MachineTelemetry reading as a device sends it. `bunkers`: {Bunker: level}."""
    body = {
        "machineId": str(machine.pk),
        "timestamp": iso(at or datetime.now(UTC)),
        "status": status,
        "temperature": temperature,
        "humidity": humidity,
        "bunkers": [{"bunkerId": str(b.pk), "currentLevel": level}
                    for b, level in (bunkers or {}).items()],
        "errors": errors or [],
        "uptime": 3600,
    }
    body.update(extra)
    return body


@pytest.fixture(autouse=True)
def fast_password_hashing(request, settings) -> None:
    """Personas hash five passwords with PBKDF2 (~0.5 s each). Tests that log in over HTTP
    to a live server (another process, with the real hashers) keep the real one."""
    if "live_server_process" not in request.fixturenames:
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def device_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Device {key}")
    return client


@pytest.fixture
def device_key(personas) -> str:
    return issue_device_key(machine=personas.machine).plaintext


@pytest.fixture
def device(device_key) -> APIClient:
    return device_client(device_key)


@dataclass
class Sent:
    """Events published through realtime.broadcast, as (room, event, payload)."""

    records: list[tuple[str, str, Any]] = field(default_factory=list)
    capture: Any = None

    def of(self, event: str, room: str | None = None) -> list[Any]:
        return [p for r, e, p in self.records if e == event and (room is None or r == room)]

    def rooms(self, event: str) -> list[str]:
        return [r for r, e, _ in self.records if e == event]

    def clear(self) -> None:
        self.records.clear()


@pytest.fixture
def sent(monkeypatch, django_capture_on_commit_callbacks) -> Sent:
    """Records what would be broadcast; use `with sent.capture(): ...` to run the
    on-commit callbacks of the code inside (the test's transaction never commits)."""
    recorder = Sent()
    def record(room: str, event: str, payload: Any) -> None:
        recorder.records.append((room, event, payload))

    monkeypatch.setattr(broadcast, "publish_rollback_unsafe", record)

    @contextmanager
    def capture() -> Iterator[None]:
        with django_capture_on_commit_callbacks(execute=True):
            yield

    recorder.capture = capture
    return recorder


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
