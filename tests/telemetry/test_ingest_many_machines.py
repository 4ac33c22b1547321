"""`ingest_telemetry_many` stores the readings of many machines in one transaction, with
the same number of queries for 3 machines as for 30, and judges each machine exactly as
`ingest_telemetry` would judge it alone: its own status change, errors, low bunkers, events
and after-commit hooks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from machines.models import Machine, MachineStatus
from realtime.events import INVENTORY_LOW, MACHINE_STATUS, MACHINE_TELEMETRY
from telemetry import services
from telemetry.models import MachineError, MachineHealth, TelemetryReading
from tests.factories import make_bunker, make_machine, make_reading
from tests.telemetry.conftest import reading_body

pytestmark = pytest.mark.django_db

NOW = datetime.now(UTC)


def readings_of(machine, **body):
    return services.validate_telemetry_document(
        machine=machine, data=reading_body(machine, **body), now=NOW)


def batches(pairs):
    return {machine.pk: (machine, readings) for machine, readings in pairs}


def fleet(personas, n: int) -> list[Machine]:
    machines = [make_machine(personas.acme) for _ in range(n)]
    for machine in machines:
        make_bunker(machine, "Coffee", capacity=1000, level=800)
    return machines


def queries_for(personas, n: int, django_capture_on_commit_callbacks) -> int:
    machines = fleet(personas, n)
    work = batches((m, readings_of(m, at=NOW - timedelta(minutes=1))) for m in machines)
    # The after-commit hooks (the forecasts: tests/operations/test_forecast_refresh.py) not run.
    with CaptureQueriesContext(connection) as queries, \
            django_capture_on_commit_callbacks(execute=False):
        results, skipped = services.ingest_telemetry_many(work)
    assert skipped == set() and {r.accepted for r in results.values()} == {1}
    return len(queries)


def test_the_number_of_queries_does_not_grow_with_the_machines(
        personas, sent, django_capture_on_commit_callbacks):
    assert queries_for(personas, 3, django_capture_on_commit_callbacks) == queries_for(
        personas, 30, django_capture_on_commit_callbacks)


def test_each_machine_is_judged_as_if_alone(personas, sent):
    broken, low, late = fleet(personas, 3)
    coffee_of_low = low.bunkers.get()
    make_reading(late, timestamp=NOW - timedelta(minutes=1))
    Machine.objects.filter(pk=late.pk).update(last_seen_at=NOW - timedelta(minutes=1))
    with sent.capture():
        results, skipped = services.ingest_telemetry_many(batches([
            (broken, readings_of(broken, at=NOW - timedelta(seconds=30), status="error",
                                 errors=[{"code": "E-BOILER", "severity": "critical"}])),
            (low, readings_of(low, at=NOW - timedelta(seconds=30),
                              bunkers={coffee_of_low: 100})),
            # Older than the machine's latest reading: history only, nothing judged.
            (late, readings_of(late, at=NOW - timedelta(minutes=5), status="error")),
        ]))
    assert skipped == set()
    assert [results[m.pk].accepted for m in (broken, low, late)] == [1, 1, 1]

    broken.refresh_from_db()
    low.refresh_from_db()
    late.refresh_from_db()
    assert broken.status == MachineStatus.ERROR and low.status == MachineStatus.ONLINE
    assert late.status == MachineStatus.ONLINE
    assert late.last_seen_at == NOW - timedelta(minutes=1)
    assert list(MachineError.objects.filter(resolved_at__isnull=True)
                .values_list("machine_id", "code")) == [(broken.pk, "E-BOILER")]
    coffee_of_low.refresh_from_db()
    assert coffee_of_low.current_level_grams == 100
    assert TelemetryReading.objects.count() == 4

    rooms = [(room, event) for room, event, _payload in sent.records]
    assert (f"machine:{broken.pk}", MACHINE_STATUS) in rooms
    assert {payload["machineId"] for _room, event, payload in sent.records
            if event == MACHINE_STATUS} == {str(broken.pk)}
    for machine in (broken, low, late):
        assert rooms.count((f"machine:{machine.pk}", MACHINE_TELEMETRY)) == 1
    # The late machine's document: its stored latest reading, its bunkers as loaded.
    [late_document] = [payload for room, event, payload in sent.records
                       if event == MACHINE_TELEMETRY and room == f"machine:{late.pk}"]
    assert late_document["timestamp"].startswith(
        (NOW - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S"))
    assert [b["bunkerId"] for b in late_document["bunkers"]] == [
        str(b.pk) for b in late.bunkers.all()]
    low_events = [payload for _room, event, payload in sent.records if event == INVENTORY_LOW]
    assert low_events and {e["machineId"] for e in low_events} == {str(low.pk)}


def test_a_machine_with_only_duplicates_fires_nothing(personas, sent):
    machine, other = fleet(personas, 2)
    at = NOW - timedelta(minutes=2)
    make_reading(machine, timestamp=at)
    with sent.capture():
        results, _skipped = services.ingest_telemetry_many(batches([
            (machine, readings_of(machine, at=at)),
            (other, readings_of(other, at=at)),
        ]))
    assert (results[machine.pk].accepted, results[machine.pk].duplicates) == (0, 1)
    assert (results[other.pk].accepted, results[other.pk].duplicates) == (1, 0)
    rooms = [room for room, _event, _payload in sent.records]
    assert f"machine:{other.pk}" in rooms
    assert not any(str(machine.pk) in room for room in rooms)


def test_two_organizations_in_one_batch_keep_their_own_limits_and_rooms(personas, sent):
    personas.acme.temperature_alert_celsius = 30
    personas.acme.save(update_fields=["temperature_alert_celsius"])
    personas.rival.temperature_alert_celsius = 50
    personas.rival.save(update_fields=["temperature_alert_celsius"])
    ours, theirs = make_machine(personas.acme), personas.rival_machine
    at = NOW - timedelta(seconds=20)
    with sent.capture():
        services.ingest_telemetry_many(batches([
            (ours, readings_of(ours, at=at, temperature=40.0)),
            (theirs, readings_of(theirs, at=at, temperature=40.0)),
        ]))
    assert MachineHealth.objects.get(machine=ours).temperature_alert_active
    assert not MachineHealth.objects.filter(machine=theirs, temperature_alert_active=True).exists()
    about_theirs = [room for room, _event, payload in sent.records
                    if isinstance(payload, dict) and payload.get("machineId") == str(theirs.pk)]
    assert about_theirs and not any(str(personas.acme.pk) in room or str(ours.pk) in room
                                    for room in about_theirs)
    about_ours = [room for room, _event, payload in sent.records
                  if isinstance(payload, dict) and payload.get("machineId") == str(ours.pk)]
    assert not any(str(personas.rival.pk) in room for room in about_ours)
