"""What an accepted reading does: rows, rules, broadcasts; idempotent retries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from machines.models import Machine, Task, TaskKind, TaskStatus
from notifications.models import Notification
from realtime.events import EVENT_SCHEMAS, NOTIFICATIONS_READ
from realtime.rooms import machine_room, map_room, organization_room, tasks_room, user_room
from telemetry import alerts
from telemetry.models import MachineError, MachineHealth, TelemetryReading
from telemetry.selectors import machine_telemetry
from tests.telemetry.conftest import iso, reading_body

pytestmark = pytest.mark.django_db

URL = "/api/v1/telemetry/"


@pytest.fixture
def clock():
    """Timestamps a few minutes in the past, one second apart, in posting order."""
    start = datetime.now(UTC) - timedelta(minutes=5)
    ticks = iter(range(10_000))
    return lambda: start + timedelta(seconds=next(ticks))


def post(device, body):
    response = device.post(URL, body, format="json")
    assert response.status_code in (200, 201), response.content
    return response


# -- storing -----------------------------------------------------------------------------


def test_reading_is_stored_and_updates_machine_and_bunkers(personas, device, clock):
    at = clock()
    response = post(device, reading_body(personas.machine, at=at, status="online",
                                         bunkers={personas.coffee: 640}, temperature=22.0))
    assert response.status_code == 201
    assert response.json() == {"machineId": str(personas.machine.pk), "received": 1,
                               "accepted": 1, "duplicates": 0}
    stored = TelemetryReading.objects.get()
    assert stored.timestamp == at and stored.temperature == 22.0
    assert stored.bunker_levels == [{"bunkerId": str(personas.coffee.pk), "currentLevel": 640}]
    machine = Machine.objects.get(pk=personas.machine.pk)
    assert machine.last_seen_at == at and machine.status == "online"
    personas.coffee.refresh_from_db()
    personas.milk.refresh_from_db()
    assert personas.coffee.current_level_grams == 640
    assert personas.milk.current_level_grams == 1500  # not reported: unchanged


def test_a_batch_is_stored_and_the_latest_reading_wins(personas, device, clock):
    body = [reading_body(personas.machine, at=clock(), bunkers={personas.coffee: level})
            for level in (700, 650, 600)]
    assert post(device, list(reversed(body))).json()["accepted"] == 3
    personas.coffee.refresh_from_db()
    assert personas.coffee.current_level_grams == 600
    assert TelemetryReading.objects.count() == 3


def test_errors_open_and_resolve_with_the_reports(personas, device, clock):
    post(device, reading_body(personas.machine, at=clock(), errors=[
        {"code": "E-COIN", "message": "Coin jam", "severity": "warning"},
        {"code": "E-WATER", "message": "Water low"},
    ]))
    assert set(MachineError.objects.filter(resolved_at__isnull=True)
               .values_list("code", flat=True)) == {"E-COIN", "E-WATER"}
    at = clock()
    post(device, reading_body(personas.machine, at=at, errors=[{"code": "E-WATER"}]))
    coin = MachineError.objects.get(code="E-COIN")
    assert coin.resolved_at == at
    assert MachineError.objects.get(code="E-WATER").resolved_at is None
    assert MachineError.objects.count() == 2


def test_late_readings_are_stored_but_change_nothing(personas, device, clock):
    early, late = clock(), clock()
    post(device, reading_body(personas.machine, at=late, status="online",
                              bunkers={personas.coffee: 700}))
    post(device, reading_body(personas.machine, at=early, status="error",
                              bunkers={personas.coffee: 10}))
    machine = Machine.objects.get(pk=personas.machine.pk)
    personas.coffee.refresh_from_db()
    assert (machine.status, machine.last_seen_at) == ("online", late)
    assert personas.coffee.current_level_grams == 700
    assert TelemetryReading.objects.count() == 2
    assert not Task.objects.exists()


def test_ingestion_costs_the_same_queries_for_1_or_200_readings(personas, device, clock):
    post(device, reading_body(personas.machine, at=clock(), errors=[{"code": "E-1"}]))

    def queries_for(n: int) -> int:
        body = [reading_body(personas.machine, at=clock(), bunkers={personas.coffee: 800,
                                                                      personas.milk: 1500},
                             errors=[{"code": "E-1"}]) for _ in range(n)]
        with CaptureQueriesContext(connection) as queries:
            post(device, body)
        return len(queries)

    assert queries_for(200) == queries_for(1) <= 10


# -- idempotency -------------------------------------------------------------------------


def test_a_retry_stores_nothing_twice(personas, device, clock):
    body = reading_body(personas.machine, at=clock())
    assert post(device, body).status_code == 201
    retry = post(device, body)
    assert retry.status_code == 200
    assert retry.json()["accepted"] == 0 and retry.json()["duplicates"] == 1
    assert TelemetryReading.objects.count() == 1


def test_a_partially_retried_batch_stores_only_the_new_readings(personas, device, clock):
    body = [reading_body(personas.machine, at=clock()) for _ in range(5)]
    post(device, body[:3])
    result = post(device, body).json()
    assert (result["accepted"], result["duplicates"]) == (2, 3)
    assert TelemetryReading.objects.count() == 5


def test_a_retry_does_not_fire_rules_twice(personas, device, clock, sent):
    low = reading_body(personas.machine, at=clock(), bunkers={personas.coffee: 100},
                       temperature=35.0, errors=[{"code": "E-FIRE", "severity": "critical"}])
    with sent.capture():
        post(device, low)
    first = len(sent.records)
    with sent.capture():
        post(device, low)
    assert Task.objects.count() == 1
    # The managers' low bunker, heat and critical error; the operator's refill task.
    assert Notification.objects.filter(recipient=personas.manager).count() == 3
    assert Notification.objects.filter(recipient=personas.operator).count() == 1
    assert MachineError.objects.count() == 1
    assert len(sent.records) == first  # the retry broadcast nothing


def test_a_retry_after_a_server_error_is_safe(personas, device, clock, monkeypatch):
    body = reading_body(personas.machine, at=clock(), bunkers={personas.coffee: 100})

    def crash(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(alerts, "bunker_went_low", crash)
    device.raise_request_exception = False
    assert device.post(URL, body, format="json").status_code == 500
    assert TelemetryReading.objects.count() == 0  # all or nothing
    personas.coffee.refresh_from_db()
    assert personas.coffee.current_level_grams == 800
    monkeypatch.undo()
    assert post(device, body).status_code == 201
    assert Task.objects.filter(kind=TaskKind.REFILL).count() == 1


# -- broadcasts --------------------------------------------------------------------------


def test_every_accepted_reading_sends_machine_telemetry(personas, device, clock, sent):
    with sent.capture():
        post(device, reading_body(personas.machine, at=clock(), temperature=23.5,
                                  bunkers={personas.coffee: 640}))
    [payload] = sent.of("machine:telemetry")
    assert sent.rooms("machine:telemetry") == [machine_room(personas.machine.pk)]
    assert payload == machine_telemetry(Machine.objects.get(pk=personas.machine.pk))
    assert payload["temperature"] == 23.5
    assert {b["bunkerId"]: b["currentLevel"] for b in payload["bunkers"]}[
        str(personas.coffee.pk)] == 640


def test_a_batch_sends_one_machine_telemetry_with_the_state_after_it(
        personas, device, clock, sent):
    """A backlog uploaded as a batch is history: the room gets the machine's state after the
    batch once, not a replay of every intermediate state (README, "Telemetry ingestion")."""
    body = [reading_body(personas.machine, at=clock(), temperature=temperature,
                         bunkers={personas.coffee: level})
            for temperature, level in ((21.0, 700), (22.0, 650), (23.0, 600))]
    with sent.capture():
        post(device, body)
    [payload] = sent.of("machine:telemetry", machine_room(personas.machine.pk))
    assert payload["temperature"] == 23.0
    assert {b["bunkerId"]: b["currentLevel"] for b in payload["bunkers"]}[
        str(personas.coffee.pk)] == 600


def test_a_pure_retry_sends_nothing(personas, device, clock, sent):
    body = reading_body(personas.machine, at=clock())
    post(device, body)
    with sent.capture():
        post(device, body)
    assert sent.records == []


def test_a_status_change_sends_machine_status_to_the_machine_and_the_map(
        personas, device, clock, sent):
    at = clock()
    with sent.capture():
        post(device, reading_body(personas.machine, at=at, status="error"))
    expected = {"machineId": str(personas.machine.pk), "status": "error", "timestamp": iso(at)}
    assert sent.of("machine:status", machine_room(personas.machine.pk)) == [expected]
    assert sent.of("machine:status", map_room(personas.acme.pk)) == [expected]
    sent.clear()
    with sent.capture():
        post(device, reading_body(personas.machine, at=clock(), status="error"))
    assert sent.of("machine:status") == []


def test_emitted_payloads_match_their_schemas(personas, device, clock, sent):
    with sent.capture():
        post(device, reading_body(personas.machine, at=clock(), status="error",
                                  bunkers={personas.coffee: 100}, humidity=95.0,
                                  errors=[{"code": "E-X", "severity": "critical"}]))
    from tests.realtime.test_events import assert_matches

    events = {event for _, event, _ in sent.records}
    # Every event a reading can cause (a bulk read-state change, sales and routes are not).
    not_of_readings = {NOTIFICATIONS_READ, "machine:sale", "sales:today", "machine:revenue",
                       "route:updated", "machine:command"}
    assert events == set(EVENT_SCHEMAS) - not_of_readings
    for _, event, payload in sent.records:
        assert_matches(payload, EVENT_SCHEMAS[event])


# -- low bunkers -------------------------------------------------------------------------


def test_low_bunker_alerts_managers_and_opens_one_refill_task(personas, device, clock, sent):
    with sent.capture():
        post(device, reading_body(personas.machine, at=clock(), bunkers={personas.coffee: 150}))

    low = sent.of("inventory:low")
    assert sorted(sent.rooms("inventory:low")) == sorted(
        [organization_room(personas.acme.pk), machine_room(personas.machine.pk)])
    assert low[0]["bunkerId"] == str(personas.coffee.pk) and low[0]["currentLevel"] == 150

    # (the operator hears of the refill task: test_refill_task_notifies_its_operator.py)
    [notification] = Notification.objects.exclude(recipient=personas.operator)
    assert notification.recipient == personas.manager and notification.priority == "high"
    assert [p["id"] for p in sent.of("notification", user_room(personas.manager.pk))] == [
        str(notification.pk)]

    [task] = Task.objects.all()
    assert (task.kind, task.bunker, task.assignee, task.status) == (
        TaskKind.REFILL, personas.coffee, personas.operator, TaskStatus.TODO)
    board = tasks_room(personas.operator.pk, personas.acme.pk)
    assert [p["id"] for p in sent.of("task:updated", board)] == [str(task.pk)]
    assert sent.of("task:updated", organization_room(personas.acme.pk))
    assert not any(room == user_room(personas.stranger.pk) for room, _, _ in sent.records)


def test_staying_low_alerts_once(personas, device, clock):
    for level in (150, 120, 90):
        post(device, reading_body(personas.machine, at=clock(), bunkers={personas.coffee: level}))
    assert Task.objects.count() == 1
    assert Notification.objects.filter(recipient=personas.manager).count() == 1


def test_no_duplicate_refill_task_while_one_is_open(personas, device, clock):
    for level in (150, 900, 100):  # low, refilled by hand, low again: the task is still open
        post(device, reading_body(personas.machine, at=clock(), bunkers={personas.coffee: level}))
    assert Task.objects.filter(kind=TaskKind.REFILL).count() == 1
    # but the managers hear of both crossings
    assert Notification.objects.filter(recipient=personas.manager).count() == 2


def test_a_new_refill_task_once_the_last_is_done(personas, device, clock):
    post(device, reading_body(personas.machine, at=clock(), bunkers={personas.coffee: 150}))
    Task.objects.update(status=TaskStatus.DONE)
    post(device, reading_body(personas.machine, at=clock(), bunkers={personas.coffee: 1000}))
    post(device, reading_body(personas.machine, at=clock(), bunkers={personas.coffee: 150}))
    assert Task.objects.filter(kind=TaskKind.REFILL).count() == 2


def test_without_a_responsible_operator_the_task_is_unassigned(personas, device, clock, sent):
    Machine.objects.filter(pk=personas.machine.pk).update(responsible_operator=None)
    with sent.capture():
        post(device, reading_body(personas.machine, at=clock(), bunkers={personas.coffee: 150}))
    task = Task.objects.get()
    assert task.assignee is None
    assert sent.rooms("task:updated") == [organization_room(personas.acme.pk)]


# -- environment and errors --------------------------------------------------------------


def test_heat_warns_once_per_episode(personas, device, clock):
    for temperature in (31.0, 33.0, 32.0):
        post(device, reading_body(personas.machine, at=clock(), temperature=temperature))
    assert Notification.objects.filter(type="warning").count() == 1
    assert MachineHealth.objects.get(machine=personas.machine).temperature_alert_active
    post(device, reading_body(personas.machine, at=clock(), temperature=24.0))  # recovered
    post(device, reading_body(personas.machine, at=clock(), temperature=31.0))
    assert Notification.objects.filter(type="warning").count() == 2


def test_humidity_warns_once_per_episode(personas, device, clock):
    for humidity in (85.0, 90.0):
        post(device, reading_body(personas.machine, at=clock(), humidity=humidity))
    [warning] = Notification.objects.all()
    assert "humid" in warning.title.lower()


def test_environment_limits_are_per_organization(personas, device, clock):
    personas.acme.temperature_alert_celsius = 40
    personas.acme.save()
    post(device, reading_body(personas.machine, at=clock(), temperature=35.0))
    assert not Notification.objects.exists()
    post(device, reading_body(personas.machine, at=clock(), temperature=41.0))
    assert Notification.objects.count() == 1


def test_a_critical_error_notifies_managers_with_high_priority(personas, device, clock):
    post(device, reading_body(personas.machine, at=clock(), errors=[
        {"code": "E-COIN", "severity": "warning"},
        {"code": "E-BOILER", "message": "Boiler overheated", "severity": "critical"},
    ]))
    [notification] = Notification.objects.all()
    assert notification.priority == "high" and notification.type == "error"
    assert "E-BOILER" in notification.title
    post(device, reading_body(personas.machine, at=clock(), errors=[
        {"code": "E-BOILER", "severity": "critical"}]))
    assert Notification.objects.count() == 1  # still the same error
