"""A command's round trip through a real broker: the device, subscribed to its `commands`
topic, receives it with its expiry and its correlation data; the broker's PUBACK makes it
delivered, the device's answer acknowledged (or failed), silence expired; a socket subscribed
to the machine's room sees every state as `machine:command`. A device cannot close another
machine's command."""

# The gateway's fixtures are imported, and so named again as the tests' arguments.
# ruff: noqa: F811
from __future__ import annotations

import asyncio
import json
import queue
import threading
import uuid
from datetime import timedelta

import paho.mqtt.client as mqtt
import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.utils import timezone

from devices import publisher
from devices.broker import CONTROL_TOPIC, MqttAddress
from devices.commands import expire_commands, send_command
from devices.events import MACHINE_COMMAND
from devices.models import CommandState, MachineCommand
from devices.topics import REPLIES, device_topic
from machines.models import Machine, MachineStatus
from realtime.events import EVENT_SCHEMAS
from tests.devices.ingest_support import WAIT, _connected_client, provision_device
from tests.realtime.conftest import (  # noqa: F401  (the live gateway of the socket tests)
    _fast_password_hashing,
    gateway,
    product_server,
)
from tests.realtime.product import raw_client
from tests.realtime.test_events import assert_matches

pytestmark = [pytest.mark.timeout(90), pytest.mark.redis, pytest.mark.postgres]


def provision_replying_device(broker, serial: str) -> str:
    """The machine's broker account (the ingestion tests' provisioning), allowed to publish
    on its `replies` topic too; its password."""
    password = provision_device(broker, serial)
    admin = _connected_client(broker.host, broker.port, client_id=f"admin-{uuid.uuid4().hex}",
                              username=broker.server.username, password=broker.server.password)
    admin.publish(CONTROL_TOPIC, json.dumps({"commands": [
        {"command": "addRoleACL", "rolename": f"device-{serial}",
         "acltype": "publishClientSend", "topic": device_topic(serial, REPLIES),
         "allow": True}]}), qos=1).wait_for_publish(WAIT)
    admin.disconnect()
    admin.loop_stop()
    return password


class CommandDevice:
    """A machine's MQTT client that collects what arrives on its `commands` topic and
    answers on its `replies` topic."""

    def __init__(self, broker, serial: str) -> None:
        self.serial = serial
        self.commands: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.client = _connected_client(broker.host, broker.port, client_id=f"dev-{serial}",
                                        username=serial,
                                        password=provision_replying_device(broker, serial))
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.on_message = lambda c, u, message: self.commands.put(message)
        self.client.subscribe(device_topic(serial, "commands"), qos=1)
        assert subscribed.wait(WAIT)

    def next_command(self) -> mqtt.MQTTMessage:
        return self.commands.get(timeout=WAIT)

    def reply(self, document: dict, *, serial: str | None = None) -> int:
        """Publish an answer (on another machine's topic with `serial`); the PUBACK's
        reason code (0: accepted)."""
        acked: queue.Queue[int] = queue.Queue()
        self.client.on_publish = lambda c, u, mid, reason_code, p: acked.put(reason_code.value)
        self.client.publish(device_topic(serial or self.serial, "replies"),
                            json.dumps(document), qos=1)
        return acked.get(timeout=WAIT)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def devices(gateway, mqtt_broker):
    made = [CommandDevice(mqtt_broker, machine.serial_number)
            for machine in (gateway.people.machine, gateway.people.rival_machine)]
    yield made
    for device in made:
        device.close()


@pytest.fixture
async def commands_publisher(mqtt_settings, mqtt_broker):
    """`manage.py mqtt_commands`'s loop, in the test's event loop."""
    stop, connected = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(publisher.run(
        MqttAddress.parse(mqtt_broker.server_url), stop=stop,
        # One client id for every test, as one host's publisher keeps across restarts: a
        # persistent session left behind by another id would still take its share of the
        # replies (the broker queues them for it).
        identifier="test-commands", poll=0.05, expire_every=60,
        on_connected=connected.set))
    await asyncio.wait_for(connected.wait(), WAIT)
    yield
    stop.set()
    await asyncio.wait_for(task, WAIT)
    await sync_to_async(connections.close_all)()


async def states_seen(client, command_id: str, count: int) -> list[str]:
    """The states of the next `count` `machine:command` events of `command_id`."""
    states = []
    deadline = asyncio.get_running_loop().time() + WAIT
    while len(states) < count:
        name, *args = await client.next_event(
            max(0.05, deadline - asyncio.get_running_loop().time()))
        if name == MACHINE_COMMAND and args[0]["commandId"] == command_id:
            assert_matches(args[0], EVENT_SCHEMAS[MACHINE_COMMAND])
            states.append(args[0]["state"])
    return states


async def wait_for_state(command_id, state: str) -> MachineCommand:
    deadline = asyncio.get_running_loop().time() + WAIT
    while True:
        command = await sync_to_async(MachineCommand.objects.get)(pk=command_id)
        if command.state == state:
            return command
        assert asyncio.get_running_loop().time() < deadline, (command.state, state)
        await asyncio.sleep(0.05)


send = sync_to_async(send_command)


async def test_an_acknowledged_command_goes_queued_delivered_acknowledged_live(
        gateway, devices, commands_publisher):
    people = gateway.people
    device, _ = devices
    async with raw_client(gateway, gateway.tokens["viewer"]) as viewer, \
            raw_client(gateway, gateway.tokens["stranger"]) as stranger:
        room = f"machine:{people.machine.pk}"
        assert (await viewer.subscribe(room))["event"] == "subscribed"
        assert (await stranger.subscribe(room))["event"] == "error"
        command = await send(machine=people.machine, kind="enter_maintenance", params={},
                             actor=people.manager, ttl_seconds=60)
        message = await asyncio.to_thread(device.next_command)
        document = json.loads(message.payload)
        assert document["command"] == str(command.pk)
        assert document["kind"] == "enter_maintenance" and document["params"] == {}
        assert message.properties.CorrelationData == str(command.pk).encode()
        assert 50 <= message.properties.MessageExpiryInterval <= 60
        assert message.properties.ResponseTopic == device_topic(device.serial, "replies")
        assert message.qos == 1
        await wait_for_state(command.pk, CommandState.DELIVERED)
        assert await asyncio.to_thread(device.reply, {"command": str(command.pk),
                                                      "ok": True}) == 0
        done = await wait_for_state(command.pk, CommandState.ACKNOWLEDGED)
        assert done.result == {"ok": True}
        assert done.delivered_at <= done.answered_at
        assert await states_seen(viewer, str(command.pk), 3) == [
            "queued", "delivered", "acknowledged"]
        await stranger.assert_no_event(0.5)
    machine = await sync_to_async(Machine.objects.get)(pk=people.machine.pk)
    # Held as a manager's PATCH holds it, in the sender's name.
    assert machine.status == MachineStatus.MAINTENANCE
    assert machine.status_set_by_id == people.manager.pk


async def test_a_failure_answer_fails_the_command_with_its_error(gateway, devices,
                                                                  commands_publisher):
    people = gateway.people
    device, _ = devices
    async with raw_client(gateway, gateway.tokens["manager"]) as manager:
        assert (await manager.subscribe(f"machine:{people.machine.pk}"))["event"] == "subscribed"
        command = await send(machine=people.machine, kind="reboot", params={},
                             actor=people.manager, ttl_seconds=60)
        await asyncio.to_thread(device.next_command)
        await wait_for_state(command.pk, CommandState.DELIVERED)
        await asyncio.to_thread(device.reply, {"command": str(command.pk), "ok": False,
                                               "error": "door open"})
        failed = await wait_for_state(command.pk, CommandState.FAILED)
        assert failed.result == {"ok": False, "error": "door open"}
        assert await states_seen(manager, str(command.pk), 3) == ["queued", "delivered",
                                                                  "failed"]


async def test_a_command_nobody_answers_is_expired_by_the_sweep(gateway, devices,
                                                                commands_publisher):
    people = gateway.people
    device, _ = devices
    async with raw_client(gateway, gateway.tokens["viewer"]) as viewer:
        assert (await viewer.subscribe(f"machine:{people.machine.pk}"))["event"] == "subscribed"
        command = await send(machine=people.machine, kind="request_audit", params={},
                             actor=people.manager, ttl_seconds=30)
        await asyncio.to_thread(device.next_command)
        await wait_for_state(command.pk, CommandState.DELIVERED)
        later = timezone.now() + timedelta(seconds=31)
        assert await sync_to_async(expire_commands)(now=later) == 1
        assert await sync_to_async(expire_commands)(now=later) == 0  # once
        assert await states_seen(viewer, str(command.pk), 3) == ["queued", "delivered",
                                                                 "expired"]
        # A late answer changes nothing.
        await asyncio.to_thread(device.reply, {"command": str(command.pk), "ok": True})
        await asyncio.sleep(0.5)
        expired = await sync_to_async(MachineCommand.objects.get)(pk=command.pk)
        assert expired.state == CommandState.EXPIRED and expired.result == {}


async def test_a_device_cannot_answer_another_machines_command(gateway, devices,
                                                               commands_publisher):
    people = gateway.people
    device, rival = devices
    command = await send(machine=people.machine, kind="reboot", params={},
                         actor=people.manager, ttl_seconds=60)
    await asyncio.to_thread(device.next_command)
    await wait_for_state(command.pk, CommandState.DELIVERED)
    answer = {"command": str(command.pk), "ok": False, "error": "spoofed"}
    # The broker refuses a publish on another machine's topic (MQTT 5: not authorized)...
    assert await asyncio.to_thread(rival.reply, answer, serial=device.serial) == 0x87
    # ...and a reply on its own topic that names another machine's command is ignored.
    assert await asyncio.to_thread(rival.reply, answer) == 0
    await asyncio.sleep(0.5)
    still = await sync_to_async(MachineCommand.objects.get)(pk=command.pk)
    assert still.state == CommandState.DELIVERED
    await asyncio.to_thread(device.reply, {"command": str(command.pk), "ok": True})
    await wait_for_state(command.pk, CommandState.ACKNOWLEDGED)
