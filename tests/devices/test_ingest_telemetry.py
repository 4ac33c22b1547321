"""A device publishes telemetry over MQTT: the worker stores it through the HTTP endpoint's
service, once, acknowledges it on the device's `ack` topic, and the reading reaches a
dashboard socket subscribed to the machine's room."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgiref.sync import sync_to_async

from devices.models import IngestWorker
from telemetry.device_keys import issue_device_key
from telemetry.models import TelemetryReading
from tests.devices.ingest_support import devices_of, eventually, worker_thread
from tests.telemetry.conftest import iso, reading_body
from tests.telemetry.test_e2e_realtime import listeners

pytestmark = [pytest.mark.timeout(90), pytest.mark.django_db(transaction=True)]


@pytest.fixture
def acme_device(personas, mqtt_broker):
    issue_device_key(machine=personas.machine)
    with devices_of(mqtt_broker, personas.machine) as (device,):
        yield device


def test_a_published_reading_is_stored_once_and_acknowledged(personas, mqtt_broker,
                                                              acme_device):
    at = datetime.now(UTC) - timedelta(seconds=3)
    body = reading_body(personas.machine, at=at, temperature=23.5,
                        bunkers={personas.coffee: 610})
    with worker_thread(mqtt_broker.worker_url) as worker:
        acme_device.publish("telemetry", body, correlation="r-1")
        ack = acme_device.next_ack()
        assert ack == {"ok": True, "accepted": 1, "duplicates": 0, "kind": "telemetry",
                       "correlation": "r-1"}
        acme_device.publish("telemetry", body, correlation="r-1-again")
        assert acme_device.next_ack() == {"ok": True, "accepted": 0, "duplicates": 1,
                                          "kind": "telemetry", "correlation": "r-1-again"}
        eventually(lambda: IngestWorker.objects.filter(name=worker.id, messages=2).exists())
    [reading] = TelemetryReading.objects.filter(machine=personas.machine)
    assert reading.timestamp == at.replace(microsecond=at.microsecond)
    assert reading.temperature == 23.5
    personas.coffee.refresh_from_db()
    assert personas.coffee.current_level_grams == 610
    state = IngestWorker.objects.get(name=worker.id)
    assert not state.connected  # stopped
    assert state.last_message_at is not None and 0 <= state.lag_seconds < 60


def test_a_batch_document_is_answered_with_its_counts(personas, mqtt_broker, acme_device):
    start = datetime.now(UTC) - timedelta(minutes=5)
    batch = [reading_body(personas.machine, at=start + timedelta(seconds=i)) for i in range(3)]
    with worker_thread(mqtt_broker.worker_url):
        acme_device.publish("telemetry", batch[:2])
        assert acme_device.next_ack()["accepted"] == 2
        acme_device.publish("telemetry", batch)
        ack = acme_device.next_ack()
    assert (ack["accepted"], ack["duplicates"], ack["correlation"]) == (1, 2, None)
    assert TelemetryReading.objects.filter(machine=personas.machine).count() == 3


def test_a_published_reading_reaches_a_dashboard_socket(personas, mqtt_broker, acme_device,
                                                        live_server_process, redis_url):
    at = datetime.now(UTC) - timedelta(seconds=2)
    body = reading_body(personas.machine, at=at, temperature=26.0,
                        bunkers={personas.coffee: 420})

    async def scenario():
        async with httpx.AsyncClient(base_url=live_server_process.url, timeout=10) as http:
            async with listeners(live_server_process, http, manager=personas.manager,
                                 stranger=personas.stranger) as ears:
                await ears["manager"].subscribe(f"machine:{personas.machine.pk}")
                await ears["stranger"].subscribe("machines:all")
                await sync_to_async(acme_device.publish)("telemetry", body)
                [telemetry] = await ears["manager"].expect("machine:telemetry")
                await asyncio.sleep(0.3)
                return telemetry, ears["stranger"].events

    with worker_thread(mqtt_broker.worker_url):
        telemetry, stranger_heard = asyncio.run(scenario())
        assert acme_device.next_ack()["accepted"] == 1
    assert telemetry["machineId"] == str(personas.machine.pk)
    assert telemetry["timestamp"] == iso(at)
    assert telemetry["temperature"] == 26.0
    levels = {b["bunkerId"]: b["currentLevel"] for b in telemetry["bunkers"]}
    assert levels[str(personas.coffee.pk)] == 420
    assert not [name for name, payload in stranger_heard
                if str(personas.machine.pk) in str(payload)]
