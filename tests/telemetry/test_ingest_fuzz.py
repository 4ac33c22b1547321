"""POST /api/v1/telemetry/ under generated bodies: never a 5xx, and nothing half-stored.

Bodies mix valid readings with mutated ones: any field path (`status`, `[2].bunkers[1].
bunkerId`, `errors[0].severity`, ...) replaced by a value of the wrong JSON type, an edge
string (NUL, unpaired surrogates, dates at the edge of the calendar) or an edge number
(1e308, -0.0, 2**64, an integer too large for a float), a field dropped or an unknown one
added. A 400 or 403 stores nothing; a 201 stores exactly the readings of the body.

Each example runs in a savepoint rolled back afterwards, so every example starts from the
same database. Derandomized: CI runs the same examples every time.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from machines.models import Bunker, Machine, MachineStatus, Task
from notifications.models import Notification
from telemetry.models import MachineError, Severity, TelemetryReading
from tests.telemetry.conftest import iso

pytestmark = pytest.mark.django_db

URL = "/api/v1/telemetry/"

EDGE_STRINGS = st.sampled_from([
    "", " ", "\x00", "E\x00", "\ud800", "x\udfffy", "\udc80\ud800", "online\x00", "🙂",
    "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z", "2026-03-01T09:00:00", "NaN", "1e400", "x" * 600,
    "00000000-0000-0000-0000-000000000000",
])
EDGE_NUMBERS = st.sampled_from([
    0, -1, 1, 0.5, -0.0, 1e308, -1e308, 5e-324, 2**31, 2**53, 2**63, 2**64, -(2**64),
    10**400, 12345678901234567890123456789012,
])
#: Strings over every category, unpaired surrogates (Cs) and control characters included.
ANY_TEXT = st.text(st.characters(categories=["L", "N", "P", "S", "Z", "Cc", "Cs"]),
                   max_size=8)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
    ANY_TEXT, EDGE_STRINGS, EDGE_NUMBERS,
)
HOSTILE = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(ANY_TEXT | EDGE_STRINGS, children, max_size=3),
    max_leaves=6,
)
#: A list or an object where a scalar belongs (unhashable: a set lookup raises on them).
WRONG_CONTAINERS = st.sampled_from(['[]', '{}', '["online"]', '{"online": true}', '[[]]',
                                   '{"": null}']).map(json.loads)  # a new one per draw
STATUSES = sorted(MachineStatus.values)
SEVERITIES = sorted(Severity.values)


@st.composite
def valid_reading(draw, machine_id: str, capacities: dict[str, int], seconds_ago: int) -> dict:
    now = datetime.now(UTC)
    at = now - timedelta(seconds=seconds_ago)
    reading = {
        "machineId": machine_id,
        "timestamp": iso(at),
        "status": draw(st.sampled_from(STATUSES)),
        "temperature": draw(st.none() | st.floats(-60, 120)),
        "humidity": draw(st.none() | st.floats(0, 100)),
        "uptime": draw(st.integers(0, 2**53 - 1)),
    }
    bunker_ids = draw(st.lists(st.sampled_from(sorted(capacities)), unique=True))
    reading["bunkers"] = [
        {"bunkerId": b, "currentLevel": draw(st.integers(0, capacities[b]))} for b in bunker_ids
    ]
    codes = draw(st.lists(st.text("ABCDEF-0123", min_size=1, max_size=8), unique=True,
                          max_size=3))
    reading["errors"] = [
        {"code": code, "message": draw(st.text(max_size=20)),
         "severity": draw(st.sampled_from(SEVERITIES)),
         "occurredAt": iso(at - timedelta(seconds=draw(st.integers(0, 3600))))}
        for code in codes
    ]
    if draw(st.booleans()):
        reading["lastSale"] = iso(at - timedelta(seconds=draw(st.integers(0, 86400))))
    return reading


def _field_paths(value, path=()) -> tuple[list[tuple], list[tuple]]:
    """The paths into `value` (keys and list indices): (scalar leaves, containers)."""
    leaves: list[tuple] = []
    containers: list[tuple] = []
    children = (value.items() if isinstance(value, dict)
                else enumerate(value) if isinstance(value, list) else ())
    for key, child in children:
        here = (*path, key)
        if isinstance(child, dict | list):
            containers.append(here)
            inner_leaves, inner_containers = _field_paths(child, here)
            leaves += inner_leaves
            containers += inner_containers
        else:
            leaves.append(here)
    return leaves, containers


@st.composite
def mutated(draw, reading: dict, foreign_ids: list[str]) -> dict:
    """`reading` with one to three fields replaced (a scalar field three times in four),
    dropped, or an unknown one added."""
    reading = json.loads(json.dumps(reading))  # a deep copy
    replacement = st.one_of(WRONG_CONTAINERS, EDGE_STRINGS, EDGE_NUMBERS, HOSTILE,
                            st.sampled_from(foreign_ids))
    for _ in range(draw(st.integers(1, 3))):
        leaves, containers = _field_paths(reading)
        pool = leaves if leaves and (not containers or draw(st.integers(0, 3))) else containers
        if not pool:
            break
        *parents, last = draw(st.sampled_from(pool))
        parent = reading
        for step in parents:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "replace", "replace", "drop", "add"]))
        if action == "replace":
            parent[last] = draw(replacement)
        elif action == "drop":
            del parent[last]
        elif isinstance(parent, dict):
            parent[draw(ANY_TEXT | EDGE_STRINGS)] = draw(HOSTILE)
        else:
            parent.append(draw(HOSTILE))
    return reading


@st.composite
def bodies(draw, machine_id: str, capacities: dict[str, int], foreign_ids: list[str]):
    """One reading or a batch of up to four, each valid or mutated (distinct timestamps)."""
    count = draw(st.integers(1, 4))
    readings = []
    for index in range(count):
        reading = draw(valid_reading(machine_id, capacities, seconds_ago=60 * (index + 1)))
        if draw(st.booleans()):  # half the readings are mutated
            reading = draw(mutated(reading, foreign_ids))
        readings.append(reading)
    if count == 1 and draw(st.booleans()):
        return readings[0]
    return readings


def _state(machine: Machine) -> tuple:
    machine.refresh_from_db()
    levels = dict(Bunker.objects.filter(machine=machine).values_list("pk", "current_level_grams"))
    return (machine.status, machine.last_seen_at, levels, MachineError.objects.count(),
            Task.objects.count(), Notification.objects.count())


def _stored_timestamps(body) -> set[datetime]:
    readings = body if isinstance(body, list) else [body]
    return {datetime.fromisoformat(r["timestamp"]).astimezone(UTC) for r in readings}


def test_generated_bodies_never_get_a_5xx_nor_store_half(personas, device):
    machine = personas.machine
    capacities = {str(b.pk): b.capacity_grams for b in machine.bunkers.all()}
    rival_bunker = str(personas.rival_machine.bunkers.get().pk)
    foreign_ids = [str(personas.rival_machine.pk), str(uuid.UUID(int=7)), rival_bunker]
    device.raise_request_exception = False
    before = _state(machine)

    @settings(max_examples=200, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(bodies(str(machine.pk), capacities, foreign_ids))
    def check(body) -> None:
        text = json.dumps(body, ensure_ascii=True)  # unpaired surrogates as \ud800 escapes
        with transaction.atomic():
            response = device.post(URL, data=text, content_type="application/json")
            assert response.status_code in (201, 400, 403), (response.status_code,
                                                             response.content[:500])
            stored = set(TelemetryReading.objects.filter(machine=machine)
                         .values_list("timestamp", flat=True))
            if response.status_code == 201:
                assert stored == _stored_timestamps(body)
                assert response.json()["accepted"] == len(stored)
            else:
                assert TelemetryReading.objects.count() == 0, response.content
                assert _state(machine) == before, response.content
                if response.status_code == 400:
                    assert response.json(), "a 400 names the bad fields"
            transaction.set_rollback(True)

    check()
