"""Nothing lost, nothing doubled: a worker killed between receiving a batch and committing
it, a worker that was away, and a broker restart."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta

import pytest

from devices.models import IngestWorker
from telemetry.device_keys import issue_device_key
from telemetry.models import TelemetryReading
from tests.devices.ingest_support import (
    Device,
    WorkerProcess,
    devices_of,
    eventually,
    provision_device,
    worker_thread,
)
from tests.telemetry.conftest import reading_body

pytestmark = [pytest.mark.timeout(120), pytest.mark.django_db(transaction=True)]


def _readings(machine, count: int, *, start: datetime | None = None) -> list[dict]:
    start = start or datetime.now(UTC) - timedelta(minutes=10)
    return [reading_body(machine, at=start + timedelta(seconds=i)) for i in range(count)]


def test_a_worker_killed_before_its_commit_loses_and_doubles_nothing(personas,
                                                                      own_mqtt_broker,
                                                                      tmp_path):
    mqtt_broker = own_mqtt_broker  # the killed worker's session stays behind
    issue_device_key(machine=personas.machine)
    readings = _readings(personas.machine, 3)
    log = tmp_path / "worker.log"
    with devices_of(mqtt_broker, personas.machine) as (device,):
        holding = WorkerProcess(mqtt_broker.worker_url, "crash", log,
                                "--pause-before-commit", "30")
        try:
            holding.wait_for_log("connected to")
            for index, body in enumerate(readings):
                device.publish("telemetry", body, correlation=f"c-{index}")
            holding.wait_for_log("received")
            holding.process.send_signal(signal.SIGKILL)
            holding.process.wait(10)
        finally:
            holding.stop()
        assert "committed" not in holding.log()
        assert not TelemetryReading.objects.exists()
        assert device.acks.empty()  # never answered: never committed

        restarted = WorkerProcess(mqtt_broker.worker_url, "crash", log)
        try:
            acks = device.acks_until(len(readings), timeout=30)
        finally:
            restarted.stop()
    assert sorted(ack["correlation"] for ack in acks) == ["c-0", "c-1", "c-2"]
    assert sum(ack["accepted"] for ack in acks) == 3
    assert sum(ack["duplicates"] for ack in acks) == 0
    stored = TelemetryReading.objects.filter(machine=personas.machine)
    assert sorted(r.timestamp.isoformat() for r in stored) == sorted(
        datetime.fromisoformat(body["timestamp"]).isoformat() for body in readings)


def test_messages_published_while_the_worker_is_away_wait_in_its_session(
        personas, mqtt_broker):
    issue_device_key(machine=personas.machine)
    first, later = _readings(personas.machine, 2)
    with devices_of(mqtt_broker, personas.machine) as (device,):
        with worker_thread(mqtt_broker.worker_url, "away", keep_session=True):
            device.publish("telemetry", first)
            assert device.next_ack()["accepted"] == 1
        device.publish("telemetry", later)  # the worker is gone; its session stays
        with worker_thread(mqtt_broker.worker_url, "away"):
            ack = device.next_ack()
    assert (ack["accepted"], ack["duplicates"]) == (1, 0)
    assert TelemetryReading.objects.filter(machine=personas.machine).count() == 2


def test_after_a_broker_restart_the_worker_reconnects_and_resubscribes(personas,
                                                                       own_mqtt_broker):
    """The worker notices the broker going away (its state says so), reconnects with its
    backoff once the broker is back, subscribes again, and stores what devices publish.
    (Mosquitto 2.0.11 does not restore shared subscriptions from its persistence file: what
    devices publish between the restart and the worker's resubscription has no subscriber;
    devices keep their own unanswered messages and send them again.)"""
    broker = own_mqtt_broker
    issue_device_key(machine=personas.machine)
    before, after = _readings(personas.machine, 2)
    serial = personas.machine.serial_number
    password = provision_device(broker, serial)
    with worker_thread(broker.worker_url, "restart", heartbeat=0.2) as worker:
        device = Device(broker, serial, password, persistent=True)
        device.publish("telemetry", before)
        assert device.next_ack()["accepted"] == 1
        device.close()
        broker.stop()
        eventually(lambda: IngestWorker.objects.filter(name=worker.id, connected=False)
                   .exclude(last_error="").exists())
        broker.start()
        eventually(lambda: worker.connected, timeout=40)
        time.sleep(0.3)  # its SUBSCRIBE reaches the broker
        device = Device(broker, serial, password, persistent=True)
        try:
            device.publish("telemetry", after)
            ack = device.next_ack(timeout=30)
        finally:
            device.close()
        eventually(lambda: IngestWorker.objects.filter(name=worker.id, connected=True).exists())
    assert (ack["accepted"], ack["duplicates"]) == (1, 0)
    assert TelemetryReading.objects.filter(machine=personas.machine).count() == 2
