"""A batch of the worker stores one machine's telemetry messages with one ingestion call
(one insert, one rules evaluation, one `machine:telemetry` event, the after-commit hooks
once), and still answers each message for its own readings: accepted, duplicates (of the
database or of an earlier message of the batch), or its own 400/403 with nothing stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from devices.ingest_batch import store_batch
from devices.ingest_messages import Inbound, MachineDirectory
from realtime.events import MACHINE_TELEMETRY
from telemetry.device_keys import issue_device_key
from telemetry.models import TelemetryReading
from telemetry.services import AFTER_COMMIT_HOOKS
from tests.factories import make_reading
from tests.telemetry.conftest import reading_body

pytestmark = pytest.mark.django_db


def _message(machine, body, kind: str = "telemetry", serial: str | None = None) -> Inbound:
    return Inbound(serial=serial or machine.serial_number, kind=kind,
                   payload=json.dumps(body).encode(), received_at=timezone.now())


def _store(messages, capture):
    with capture(execute=False) as callbacks:
        outcomes = store_batch(messages, MachineDirectory())
    return outcomes, callbacks


def _telemetry_events(callbacks) -> list:
    return [c for c in callbacks
            if getattr(c, "args", None) and len(c.args) > 1 and c.args[1] == MACHINE_TELEMETRY]


def _hook_calls(callbacks) -> list:
    return [c for c in callbacks if getattr(c, "func", None) in AFTER_COMMIT_HOOKS]


@pytest.fixture
def keyed(personas):
    issue_device_key(machine=personas.machine)
    issue_device_key(machine=personas.rival_machine)
    return personas


def test_messages_of_one_machine_are_answered_each_for_their_own_readings(
        keyed, django_capture_on_commit_callbacks):
    machine = keyed.machine
    start = datetime.now(UTC) - timedelta(minutes=10)
    at = [start + timedelta(seconds=i) for i in range(6)]
    make_reading(machine, timestamp=at[0])  # stored before the batch: a retry's
    messages = [
        _message(machine, reading_body(machine, at=at[1])),
        _message(machine, [reading_body(machine, at=at[2]), reading_body(machine, at=at[3])]),
        # at[3] again (a device retrying a message with a new one) and the stored at[0]
        _message(machine, [reading_body(machine, at=at[3]), reading_body(machine, at=at[4]),
                           reading_body(machine, at=at[0])]),
        _message(machine, [reading_body(machine, at=at[5]),
                           reading_body(machine, at=at[5] + timedelta(seconds=1),
                                        temperature="hot")]),
        _message(machine, reading_body(keyed.rival_machine, at=at[5])),  # another machine's
        _message(machine, reading_body(machine, at=at[4]), serial="NO-SUCH-SERIAL"),
    ]
    outcomes, callbacks = _store(messages, django_capture_on_commit_callbacks)

    answers = [(o.status, o.accepted, o.duplicates) for o in outcomes]
    assert answers[:3] == [(201, 1, 0), (201, 2, 0), (201, 1, 2)]
    assert outcomes[3].status == 400 and "[1].temperature" in outcomes[3].errors
    assert outcomes[4].status == 403 and "machineId" in outcomes[4].errors
    assert outcomes[5].status == 404
    stored = set(TelemetryReading.objects.filter(machine=machine)
                 .values_list("timestamp", flat=True))
    assert stored == {stamp.replace(microsecond=stamp.microsecond) for stamp in at[:5]}
    assert not TelemetryReading.objects.filter(machine=keyed.rival_machine).exists()
    assert len(_telemetry_events(callbacks)) == 1
    assert len(_hook_calls(callbacks)) == len(AFTER_COMMIT_HOOKS)


def test_a_batch_of_only_duplicates_is_answered_200_and_fires_nothing(
        keyed, django_capture_on_commit_callbacks):
    machine = keyed.machine
    at = datetime.now(UTC) - timedelta(minutes=1)
    make_reading(machine, timestamp=at)
    messages = [_message(machine, reading_body(machine, at=at)) for _ in range(3)]
    outcomes, callbacks = _store(messages, django_capture_on_commit_callbacks)
    assert [(o.status, o.accepted, o.duplicates) for o in outcomes] == [(200, 0, 1)] * 3
    assert _telemetry_events(callbacks) == [] and _hook_calls(callbacks) == []


def test_the_queries_of_a_batch_do_not_grow_with_its_messages(keyed):
    machine = keyed.machine
    start = datetime.now(UTC) - timedelta(hours=1)

    def queries(first: int, count: int) -> int:
        messages = [_message(machine, reading_body(machine, at=start + timedelta(seconds=i)))
                    for i in range(first, first + count)]
        with CaptureQueriesContext(connection) as captured:
            outcomes = store_batch(messages, MachineDirectory())
        assert all(o.accepted == 1 for o in outcomes)
        return len(captured)

    queries(0, 1)  # the directory's and the first forecast's queries out of the way
    few = queries(10, 2)
    assert queries(100, 40) == few


def test_a_vend_between_readings_keeps_its_place(keyed, django_capture_on_commit_callbacks):
    """The readings before a vend are stored before it and those after it after it: a
    reading resets the level the vends estimated, so their order is the machine's."""
    machine = keyed.machine
    start = datetime.now(UTC) - timedelta(minutes=5)
    messages = [
        _message(machine, reading_body(machine, at=start)),
        _message(machine, {"not": "a vend document"}, kind="sales"),
        _message(machine, reading_body(machine, at=start + timedelta(seconds=1))),
    ]
    outcomes, callbacks = _store(messages, django_capture_on_commit_callbacks)
    assert [o.accepted for o in (outcomes[0], outcomes[2])] == [1, 1]
    assert outcomes[1].status == 400
    assert len(_telemetry_events(callbacks)) == 2  # one call each side of the vend message


def test_a_retried_batch_stores_only_the_messages_not_yet_answered(keyed):
    """After a database error the worker calls the batch again with the answers of the
    machines that did commit: those messages are not stored (nor answered) again."""
    machine, rival = keyed.machine, keyed.rival_machine
    at = datetime.now(UTC) - timedelta(minutes=2)
    messages = [_message(machine, reading_body(machine, at=at)),
                _message(rival, reading_body(rival, at=at))]
    first = store_batch(messages[:1], MachineDirectory())
    outcomes = [first[0], None]
    store_batch(messages, MachineDirectory(), outcomes=outcomes)
    assert outcomes[0] is first[0] and outcomes[0].accepted == 1
    assert (outcomes[1].status, outcomes[1].accepted) == (201, 1)
    assert TelemetryReading.objects.filter(machine__in=[machine, rival]).count() == 2
