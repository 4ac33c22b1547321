"""A status a person holds (maintenance): readings are stored and judged but do not change
it, and the offline watchdog leaves the machine alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from machines.models import Machine, MachineStatus, Task, TaskKind
from machines.services import set_machine_status
from notifications.models import Notification
from telemetry.models import TelemetryReading
from telemetry.rules import BunkerSpec, EnvironmentLimits, MachineState, Reading, evaluate_batch
from telemetry.watchdog import check_silent_machines
from tests.telemetry.conftest import T0, reading_body

pytestmark = pytest.mark.django_db


def test_the_rules_keep_a_held_status_but_judge_the_levels():
    state = MachineState(status="maintenance", last_seen_at=None, bunker_levels={"b": 800},
                         open_errors={}, status_held=True)
    outcome = evaluate_batch(state, [Reading(T0, "online", bunker_levels={"b": 100})],
                             {"b": BunkerSpec(1000, 20)}, EnvironmentLimits(30, 80))
    assert outcome.state.status == "maintenance" and outcome.status_change is None
    assert [low.bunker_id for low in outcome.low_bunkers] == ["b"]
    assert outcome.state.bunker_levels == {"b": 100}


def test_a_reading_keeps_maintenance_and_still_updates_levels_and_raises_rules(
        personas, device, sent):
    set_machine_status(machine=personas.machine, status="maintenance", actor=personas.manager)
    body = reading_body(personas.machine, status="online", temperature=45.0,
                        bunkers={personas.coffee: 50},
                        errors=[{"code": "E-HOT", "message": "Boiler", "severity": "critical",
                                 "occurredAt": timezone.now().isoformat()}])
    with sent.capture():
        assert device.post("/api/v1/telemetry/", body, format="json").status_code in (200, 201)
    machine = Machine.objects.get(pk=personas.machine.pk)
    assert machine.status == MachineStatus.MAINTENANCE
    assert machine.status_set_by == personas.manager
    assert machine.last_seen_at is not None
    assert TelemetryReading.objects.filter(machine=machine).count() == 1
    personas.coffee.refresh_from_db()
    assert personas.coffee.current_level_grams == 50
    assert Task.objects.filter(bunker=personas.coffee, kind=TaskKind.REFILL).exists()
    assert sent.of("inventory:low")
    assert machine.errors.filter(code="E-HOT", resolved_at__isnull=True).exists()
    titles = list(Notification.objects.values_list("title", flat=True))
    assert any("Too hot" in t for t in titles) and any("E-HOT" in t for t in titles)
    assert sent.of("machine:status") == []
    [telemetry] = sent.of("machine:telemetry")
    assert telemetry["status"] == "maintenance"


def test_ending_the_hold_hands_the_status_back_to_the_readings(personas, device):
    set_machine_status(machine=personas.machine, status="maintenance", actor=personas.manager)
    set_machine_status(machine=personas.machine, status="online", actor=personas.manager)
    body = reading_body(personas.machine, status="error")
    device.post("/api/v1/telemetry/", body, format="json")
    assert Machine.objects.get(pk=personas.machine.pk).status == MachineStatus.ERROR


def test_the_watchdog_skips_a_machine_in_maintenance(personas, sent):
    set_machine_status(machine=personas.machine, status="maintenance", actor=personas.manager)
    Machine.objects.filter(pk__in=[personas.machine.pk, personas.rival_machine.pk]).update(
        last_seen_at=timezone.now() - timedelta(hours=2))
    with sent.capture():
        flipped = check_silent_machines()
    assert [m.pk for m in flipped] == [personas.rival_machine.pk]
    assert Machine.objects.get(pk=personas.machine.pk).status == MachineStatus.MAINTENANCE
    assert not Notification.objects.filter(machine=personas.machine).exists()


def test_a_device_reporting_maintenance_itself_holds_nothing(personas, device):
    t = timezone.now()
    device.post("/api/v1/telemetry/", reading_body(personas.machine, status="maintenance",
                                                   at=t - timedelta(seconds=5)), format="json")
    assert Machine.objects.get(pk=personas.machine.pk).status == MachineStatus.MAINTENANCE
    device.post("/api/v1/telemetry/", reading_body(personas.machine, at=t), format="json")
    assert Machine.objects.get(pk=personas.machine.pk).status == MachineStatus.ONLINE
