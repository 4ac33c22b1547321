"""The worker stores the telemetry of many machines in one transaction; a machine whose row
another transaction holds does not hold the others up (it is stored alone afterwards), and
a failure of the shared transaction that is not the database's stores each machine alone."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from devices.ingest_batch import store_batch
from devices.ingest_messages import Inbound, MachineDirectory
from machines.models import Machine
from telemetry import applying
from telemetry.device_keys import issue_device_key
from telemetry.models import TelemetryReading
from tests.factories import make_machine
from tests.telemetry.conftest import reading_body

AT = datetime.now(UTC) - timedelta(minutes=5)


def keyed_fleet(personas, n: int) -> list[Machine]:
    machines = [make_machine(personas.acme) for _ in range(n)]
    for machine in machines:
        issue_device_key(machine=machine)
    return machines


def messages_of(machines, at: datetime = AT) -> list[Inbound]:
    return [Inbound(serial=m.serial_number, kind="telemetry",
                    payload=json.dumps(reading_body(m, at=at)).encode(),
                    received_at=timezone.now()) for m in machines]


def stored_machines() -> set:
    return set(TelemetryReading.objects.values_list("machine_id", flat=True))


@pytest.mark.django_db
def test_a_failure_of_the_shared_transaction_stores_each_machine_alone(personas, monkeypatch):
    machines = keyed_fleet(personas, 4)
    real_judge = applying.judge
    together = []

    def judge_alone_only(new, locked):
        together.append(len(new))
        if len(new) > 1:
            raise RuntimeError("a bug that only many machines trip")
        return real_judge(new, locked)

    monkeypatch.setattr(applying, "judge", judge_alone_only)
    outcomes = store_batch(messages_of(machines), MachineDirectory())
    assert [(o.status, o.accepted) for o in outcomes] == [(201, 1)] * 4
    assert together == [4, 1, 1, 1, 1]  # tried together, rolled back, then one by one
    assert stored_machines() == {m.pk for m in machines}
    assert TelemetryReading.objects.count() == 4


@pytest.mark.django_db(transaction=True)
def test_a_machine_held_elsewhere_waits_alone_while_the_others_commit(personas):
    held, *others = keyed_fleet(personas, 4)
    holding, seen_while_held = threading.Event(), []

    def hold_the_row() -> None:
        try:
            with transaction.atomic():
                Machine.objects.select_for_update().get(pk=held.pk)
                holding.set()
                deadline = time.monotonic() + 10
                # The other machines' readings commit while this transaction holds `held`.
                while time.monotonic() < deadline:
                    found = set(TelemetryReading.objects.values_list("machine_id", flat=True))
                    if found >= {m.pk for m in others}:
                        seen_while_held.append(found)
                        break
                    time.sleep(0.05)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    assert holding.wait(10)
    outcomes = store_batch(messages_of([held, *others]), MachineDirectory())
    holder.join(15)

    assert [(o.status, o.accepted) for o in outcomes] == [(201, 1)] * 4
    assert seen_while_held and held.pk not in seen_while_held[0]
    assert stored_machines() == {m.pk for m in (held, *others)}


@pytest.mark.django_db
def test_bad_messages_among_many_machines_are_answered_alone_and_store_nothing(personas):
    good, broken_json, bad_field, foreign = keyed_fleet(personas, 4)
    messages = messages_of([good]) + [
        Inbound(serial=broken_json.serial_number, kind="telemetry", payload=b"{not json",
                received_at=timezone.now()),
        Inbound(serial=bad_field.serial_number, kind="telemetry", received_at=timezone.now(),
                payload=json.dumps(reading_body(bad_field, at=AT, temperature="hot")).encode()),
        # A device posting another machine's reading on its own topic.
        Inbound(serial=foreign.serial_number, kind="telemetry", received_at=timezone.now(),
                payload=json.dumps(reading_body(good, at=AT - timedelta(seconds=1))).encode()),
    ]
    outcomes = store_batch(messages, MachineDirectory())
    assert [o.status for o in outcomes] == [201, 400, 400, 403]
    assert "temperature" in outcomes[2].errors and "machineId" in outcomes[3].errors
    assert stored_machines() == {good.pk}
    assert TelemetryReading.objects.count() == 1
