"""telemetry.selectors.machine_telemetry: the MachineTelemetry document of a machine."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from machines.models import Machine, MachineStatus
from telemetry.selectors import machine_telemetry, with_telemetry_prefetches
from tests.factories import make_bunker, make_machine, make_machine_error, make_reading

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """The personas' passwords hashed cheaply: PBKDF2 costs seconds per test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


KEYS = {
    "machineId",
    "timestamp",
    "status",
    "temperature",
    "humidity",
    "bunkers",
    "errors",
    "lastSale",
    "uptime",
}
BUNKER_KEYS = {
    "bunkerId",
    "ingredientId",
    "ingredientName",
    "currentLevel",
    "maxLevel",
    "percentage",
    "lowLevelAlert",
}
AT = datetime(2026, 3, 1, 9, 30, 15, tzinfo=UTC)


def test_document_has_exactly_the_machine_telemetry_keys(personas):
    make_reading(personas.machine, timestamp=AT)
    document = machine_telemetry(personas.machine)
    assert set(document) == KEYS
    assert all(set(bunker) == BUNKER_KEYS for bunker in document["bunkers"])


def test_values_come_from_the_latest_reading(personas):
    make_reading(personas.machine, timestamp=AT - timedelta(minutes=1), temperature=10.0)
    make_reading(
        personas.machine,
        timestamp=AT,
        temperature=24.5,
        humidity=55.0,
        uptime_seconds=7200,
        last_sale_at=AT - timedelta(minutes=3),
    )
    document = machine_telemetry(personas.machine)
    assert document["machineId"] == str(personas.machine.pk)
    assert document["timestamp"] == "2026-03-01T09:30:15Z"
    assert document["temperature"] == 24.5
    assert document["humidity"] == 55.0
    assert document["uptime"] == 7200
    assert document["lastSale"] == "2026-03-01T09:27:15Z"


def test_status_is_the_machines_status_not_the_readings(personas):
    make_reading(personas.machine, timestamp=AT, status=MachineStatus.ONLINE)
    Machine.objects.filter(pk=personas.machine.pk).update(status=MachineStatus.MAINTENANCE)
    personas.machine.refresh_from_db()
    assert machine_telemetry(personas.machine)["status"] == "maintenance"


def test_bunkers_come_from_the_bunker_rows(personas):
    personas.coffee.current_level_grams = 150
    personas.coffee.save()
    bunkers = {b["ingredientName"]: b for b in machine_telemetry(personas.machine)["bunkers"]}
    assert bunkers["Coffee"] == {
        "bunkerId": str(personas.coffee.pk),
        "ingredientId": str(personas.coffee.ingredient_id),
        "ingredientName": "Coffee",
        "currentLevel": 150,
        "maxLevel": 1000,
        "percentage": 15.0,
        "lowLevelAlert": True,
    }
    assert bunkers["Milk powder"]["lowLevelAlert"] is False


def test_errors_are_the_open_ones_newest_first(personas):
    make_machine_error(personas.machine, "E-OLD", occurred_at=AT - timedelta(hours=1))
    make_machine_error(personas.machine, "E-NEW", severity="critical", occurred_at=AT)
    make_machine_error(personas.machine, "E-GONE", occurred_at=AT, resolved_at=AT)
    errors = machine_telemetry(personas.machine)["errors"]
    assert [error["code"] for error in errors] == ["E-NEW", "E-OLD"]
    assert errors[0] == {
        "code": "E-NEW",
        "message": "Brewer unit jammed",
        "severity": "critical",
        "occurredAt": "2026-03-01T09:30:15Z",
    }


def test_a_machine_without_readings_reports_last_seen_and_no_sensors(personas):
    machine = make_machine(personas.acme, last_seen_at=AT)
    document = machine_telemetry(machine)
    assert document["timestamp"] == "2026-03-01T09:30:15Z"
    assert document["temperature"] is None and document["humidity"] is None
    assert document["uptime"] == 0 and document["lastSale"] is None
    assert document["bunkers"] == [] and document["errors"] == []


def test_a_machine_never_seen_has_a_null_timestamp(personas):
    assert machine_telemetry(make_machine(personas.acme))["timestamp"] is None


def test_one_machine_costs_at_most_three_queries(personas):
    make_reading(personas.machine, timestamp=AT)
    make_machine_error(personas.machine)
    machine = Machine.objects.get(pk=personas.machine.pk)
    with CaptureQueriesContext(connection) as queries:
        machine_telemetry(machine)
    assert len(queries) <= 3


def test_prefetched_machines_cost_no_query_per_machine(personas):
    for number in range(5):
        machine = make_machine(personas.acme)
        make_bunker(machine, "Coffee")
        make_bunker(machine, "Sugar")
        make_reading(machine, timestamp=AT + timedelta(seconds=number))
        make_machine_error(machine)
    with CaptureQueriesContext(connection) as queries:
        documents = [
            machine_telemetry(machine)
            for machine in with_telemetry_prefetches(Machine.objects.all())
        ]
    assert len(documents) == 7
    assert len(queries) == 4  # machines, latest readings, open errors, bunkers
    assert sorted(len(document["bunkers"]) for document in documents) == [1, 2, 2, 2, 2, 2, 2]
