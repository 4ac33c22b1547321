"""Two workers share the devices' messages (one shared subscription): both take part of a
burst, and every reading is stored exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devices.models import IngestWorker
from telemetry.device_keys import issue_device_key
from telemetry.models import TelemetryReading
from tests.devices.ingest_support import devices_of, worker_thread
from tests.factories import make_machine
from tests.telemetry.conftest import reading_body

pytestmark = [pytest.mark.timeout(90), pytest.mark.django_db(transaction=True)]

PER_MACHINE = 40


def test_two_workers_split_a_burst_and_store_each_reading_once(personas, mqtt_broker):
    machines = [personas.machine, *(make_machine(personas.acme) for _ in range(3))]
    for machine in machines:
        issue_device_key(machine=machine)
    start = datetime.now(UTC) - timedelta(hours=1)
    with devices_of(mqtt_broker, *machines) as devices, \
            worker_thread(mqtt_broker.worker_url, "a", batch_window=0.01) as a, \
            worker_thread(mqtt_broker.worker_url, "b", batch_window=0.01) as b:
        for index in range(PER_MACHINE):
            for device, machine in zip(devices, machines, strict=True):
                device.publish("telemetry", reading_body(
                    machine, at=start + timedelta(seconds=index)), wait=False)
        acks = [ack for device in devices for ack in device.acks_until(PER_MACHINE, 45)]
    assert all(ack["ok"] and ack["accepted"] == 1 for ack in acks)
    assert TelemetryReading.objects.count() == PER_MACHINE * len(machines)
    handled = dict(IngestWorker.objects.filter(name__in=[a.id, b.id])
                   .values_list("name", "messages"))
    assert handled[a.id] > 0 and handled[b.id] > 0, handled
    assert handled[a.id] + handled[b.id] == PER_MACHINE * len(machines)
