"""Broadcasts leave only after the ingest transaction commits: a failure late in the
transaction, after the rules already wrote notifications and a refill task and queued their
events, leaves no row behind and sends nothing; the device's retry then does it all once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import OperationalError

from machines.models import Task
from notifications.models import Notification
from telemetry import alerts
from telemetry.models import MachineError, TelemetryReading
from tests.telemetry.conftest import reading_body

pytestmark = pytest.mark.django_db

URL = "/api/v1/telemetry/"


@pytest.fixture
def alarming_reading(personas):
    """Low coffee (notification + refill task + inventory:low) and a critical error."""
    return reading_body(personas.machine, at=datetime.now(UTC) - timedelta(minutes=1),
                        status="error", bunkers={personas.coffee: 100},
                        errors=[{"code": "E-BOILER", "severity": "critical"}])


def test_a_failure_after_the_rules_ran_rolls_back_rows_and_events(
        personas, device, sent, monkeypatch, alarming_reading):
    def database_lost(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    # The critical-error alert runs last, after the low-bunker notification and task.
    monkeypatch.setattr(alerts, "critical_error", database_lost)
    with sent.capture():
        response = device.post(URL, alarming_reading, format="json")
    assert response.status_code == 503
    assert sent.records == []
    assert not TelemetryReading.objects.exists()
    assert not Notification.objects.exists() and not Task.objects.exists()
    assert not MachineError.objects.exists()


def test_the_retry_after_the_failure_does_everything_once(
        personas, device, sent, monkeypatch, alarming_reading):
    real_critical_error = alerts.critical_error

    def database_lost(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(alerts, "critical_error", database_lost)
    assert device.post(URL, alarming_reading, format="json").status_code == 503
    monkeypatch.setattr(alerts, "critical_error", real_critical_error)
    with sent.capture():
        assert device.post(URL, alarming_reading, format="json").status_code == 201
    assert TelemetryReading.objects.count() == 1 and Task.objects.count() == 1
    # The manager's low coffee and critical error, the operator's refill task.
    assert Notification.objects.count() == 3
    events = [event for _, event, _ in sent.records]
    assert events.count("inventory:low") == 2  # organization and machine rooms
    assert events.count("notification") == 3 and events.count("machine:telemetry") == 1
