"""A worker killed in the middle of a stream: a live worker takes its session over once its
heartbeat is stale, stores what the broker had sent it unacknowledged and what was queued
for it since, and ends that session; every reading is stored exactly once, within a bound.

Mosquitto 2.0.11 neither moves a disconnected member's share of a shared subscription nor
hands its unacknowledged messages to the group: it queues them in the dead worker's session
and drops them when that session expires."""

from __future__ import annotations

import signal
import socket
import time
from datetime import UTC, datetime, timedelta

import pytest

from devices.ingest_worker import worker_id
from devices.models import IngestWorker
from telemetry.device_keys import issue_device_key
from telemetry.models import TelemetryReading
from tests.devices.ingest_support import WorkerProcess, devices_of, eventually
from tests.factories import make_machine
from tests.telemetry.conftest import reading_body

pytestmark = [pytest.mark.timeout(120), pytest.mark.django_db(transaction=True)]

PER_MACHINE = 30
#: Seconds from the kill to the last reading stored: the heartbeats the dead worker may miss
#: (3 x 0.5 s), the live worker's next look (0.5 s), the drain, and a loaded machine's slack.
BOUND_SECONDS = 20.0


def test_a_killed_workers_share_moves_to_the_live_one_and_nothing_is_lost(
        personas, own_mqtt_broker, tmp_path):
    broker = own_mqtt_broker  # sessions of killed workers stay behind
    machines = [personas.machine, *(make_machine(personas.acme) for _ in range(2))]
    for machine in machines:
        issue_device_key(machine=machine)
    start = datetime.now(UTC) - timedelta(hours=1)
    bodies = {m.pk: [reading_body(m, at=start + timedelta(seconds=i)) for i in range(PER_MACHINE)]
              for m in machines}
    with devices_of(broker, *machines) as devices:
        # `doomed` never commits: whatever the broker gives it is in flight when it dies.
        doomed = WorkerProcess(broker.worker_url, "doomed", tmp_path / "doomed.log",
                               "--pause-before-commit", "60")
        live = WorkerProcess(broker.worker_url, "live", tmp_path / "live.log")
        try:
            doomed.wait_for_log("connected to")
            live.wait_for_log("connected to")
            time.sleep(0.3)  # both SUBSCRIBEs reached the broker
            for index in range(PER_MACHINE):
                if index == PER_MACHINE // 2:
                    doomed.wait_for_log("received")
                    doomed.process.send_signal(signal.SIGKILL)
                    doomed.process.wait(10)
                    killed_at = time.monotonic()
                for device, machine in zip(devices, machines, strict=True):
                    device.publish("telemetry", bodies[machine.pk][index],
                                   correlation=f"{machine.serial_number}-{index}")
            total = PER_MACHINE * len(machines)
            try:
                eventually(lambda: TelemetryReading.objects.filter(
                    machine__in=machines).count() >= total, timeout=BOUND_SECONDS)
            except AssertionError as exc:
                stored = TelemetryReading.objects.filter(machine__in=machines).count()
                raise AssertionError(f"{stored} of {total} stored; the live worker's log:\n"
                                     f"{live.log()[-4000:]}") from exc
            took = time.monotonic() - killed_at
            print(f"every reading stored {took:.1f} s after the kill")
            acks = [ack for device in devices
                    for ack in device.acks_until(PER_MACHINE, timeout=BOUND_SECONDS)]
            # the take-over is recorded on the dead worker's row once its session ended
            dead = IngestWorker.objects.filter(name=worker_id("doomed", socket.gethostname()))
            try:
                eventually(lambda: dead.filter(connected=False,
                                               last_error__contains="drained and ended").exists())
            except AssertionError as exc:
                raise AssertionError(f"{list(dead.values())}\n{live.log()[-3000:]}") from exc
        finally:
            doomed.stop()
            live.stop()
    assert "committed" not in doomed.log()
    assert "taking over its session" in live.log()
    assert took < BOUND_SECONDS
    for machine in machines:
        stored = sorted(TelemetryReading.objects.filter(machine=machine)
                        .values_list("timestamp", flat=True))
        assert [t.isoformat() for t in stored] == sorted(
            datetime.fromisoformat(b["timestamp"].replace("Z", "+00:00")).isoformat()
            for b in bodies[machine.pk])
    # each reading answered as accepted once (a redelivery of a stored one: a duplicate)
    assert sum(ack["accepted"] for ack in acks) == PER_MACHINE * len(machines)
