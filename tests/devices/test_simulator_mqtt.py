"""`simulate_fleet --transport mqtt`: a short run, each machine its own MQTT client with its
own device key, through a real broker and an ingestion worker, stores readings and vends;
a command sent meanwhile is answered like a real controller would (a requested audit is
acknowledged and its DEX audit arrives)."""

from __future__ import annotations

import asyncio
import io
import threading
from contextlib import contextmanager

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.db import connections

from devices import publisher
from devices.broker import MqttAddress
from devices.commands import send_command
from devices.models import CommandState, MachineCommand
from sales.models import AuditRecord, Vend
from telemetry.models import DeviceKey, TelemetryReading
from tests.devices.ingest_support import WAIT, eventually, worker_thread
from tests.sales.conftest import planogram, products  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.timeout(120), pytest.mark.django_db(transaction=True)]


@contextmanager
def publisher_thread(url: str):
    """`manage.py mqtt_commands`'s loop in a thread of its own."""
    loop = asyncio.new_event_loop()
    stop, connected = asyncio.Event(), threading.Event()

    def main() -> None:
        try:
            loop.run_until_complete(publisher.run(
                MqttAddress.parse(url), stop=stop, identifier="test-commands", poll=0.05,
                on_connected=connected.set))
        finally:
            loop.run_until_complete(sync_to_async(connections.close_all)())
            loop.close()

    thread = threading.Thread(target=main, name="commands", daemon=True)
    thread.start()
    assert connected.wait(WAIT), "the commands publisher did not connect"
    try:
        yield
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(WAIT)


def simulate(out: io.StringIO, **options) -> threading.Thread:
    def main() -> None:
        try:
            call_command("simulate_fleet", stdout=out, stderr=out, **options)
        finally:
            connections.close_all()

    thread = threading.Thread(target=main, name="simulate_fleet", daemon=True)
    thread.start()
    return thread


def test_a_simulated_fleet_over_mqtt_stores_readings_and_answers_a_command(
        personas, planogram, mqtt_settings, mqtt_broker):  # noqa: F811
    machine = personas.machine
    out = io.StringIO()
    with worker_thread(mqtt_broker.worker_url), publisher_thread(mqtt_broker.server_url):
        run = simulate(out, transport="mqtt", organization=personas.acme.slug, interval=0.5,
                       duration=12, seed=7, progress=60, sales_per_minute=120,
                       command_failure_rate=0, command_silence_rate=0)
        eventually(lambda: TelemetryReading.objects.filter(machine=machine).count() >= 2,
                   timeout=30)
        command = send_command(machine=machine, kind="request_audit", params={},
                               actor=personas.manager, ttl_seconds=30)
        answered = eventually(lambda: MachineCommand.objects.filter(
            pk=command.pk, state=CommandState.ACKNOWLEDGED).first(), timeout=30)
        assert answered.result == {"ok": True} and answered.delivered_at is not None
        # The audit the command asked for came over MQTT too.
        eventually(lambda: AuditRecord.objects.filter(machine=machine).exists(), timeout=30)
        run.join(60)
    assert not run.is_alive()
    assert Vend.objects.filter(machine=machine).exists()
    # Its own key, issued for the run; the other organization's machine was not simulated.
    assert DeviceKey.objects.filter(machine=machine, label="simulate_fleet",
                                    revoked_at__isnull=True).count() == 1
    assert not TelemetryReading.objects.filter(machine=personas.rival_machine).exists()
    text = out.getvalue()
    assert "-> mqtt://" in text and "1 commands (1 answered" in text, text
