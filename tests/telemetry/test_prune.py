"""manage.py prune_telemetry: readings older than the retention period go, in batches."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from telemetry.models import MachineError, TelemetryReading
from tests.factories import make_machine_error, make_reading

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(personas):
    now = timezone.now()
    for days in (1, 10, 89, 91, 120, 400):
        make_reading(personas.machine, timestamp=now - timedelta(days=days))
    make_machine_error(personas.machine, code="OLD", occurred_at=now - timedelta(days=200),
                       resolved_at=now - timedelta(days=100))
    make_machine_error(personas.machine, code="OPEN", occurred_at=now - timedelta(days=200))
    return now


def ages(now) -> list[int]:
    return sorted((now - t).days for t in TelemetryReading.objects.values_list("timestamp",
                                                                                 flat=True))


def test_prunes_readings_older_than_the_retention_setting(history, settings):
    settings.TELEMETRY_RETENTION_DAYS = 90
    out = io.StringIO()
    call_command("prune_telemetry", "--batch-size", "2", stdout=out)
    assert ages(history) == [1, 10, 89]
    assert list(MachineError.objects.values_list("code", flat=True)) == ["OPEN"]
    assert "deleted 3 readings" in out.getvalue()
    assert "so far" in out.getvalue()  # progress per batch


def test_days_option_overrides_the_setting(history):
    call_command("prune_telemetry", "--days", "30", stdout=io.StringIO())
    assert ages(history) == [1, 10]


def test_dry_run_deletes_nothing(history):
    out = io.StringIO()
    call_command("prune_telemetry", "--dry-run", stdout=out)
    assert TelemetryReading.objects.count() == 6
    assert "would delete 3 readings" in out.getvalue()
