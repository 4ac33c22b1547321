"""The commands publisher (`manage.py mqtt_commands`): the MQTT side of devices/commands.py.

The command rows are the outbox: a request only stores a command; this loop claims queued
rows (a lease in one conditional UPDATE, `SKIP LOCKED`, so two publishers never send the same
command at once, and a publisher that died mid-way hands its claims over when the lease ends),
publishes each on its machine's `commands` topic with QoS 1, the remaining time to live as the
MQTT 5 message expiry interval (a device that reconnects later gets it only while it still
means something) and the command id as correlation data, and marks it delivered on the
broker's PUBACK. The same connection holds the `replies` shared subscription, whose messages
close the commands, and the loop expires the commands nobody answered in time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiomqtt
from asgiref.sync import sync_to_async
from django.db import close_old_connections, transaction
from django.db.models import Q
from django.utils import timezone
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from devices import commands
from devices.broker import MqttAddress
from devices.models import CommandState, MachineCommand
from devices.topics import (
    COMMANDS_SHARE_GROUP,
    REPLIES,
    BadTopic,
    device_topic,
    parse_topic,
    shared_subscription,
)
from telemetry.selectors import iso8601

logger = logging.getLogger(__name__)

#: How long a claim keeps other publishers off a command: longer than a PUBACK takes on a
#: healthy broker, short enough that a crashed publisher's commands go out soon after.
LEASE_SECONDS = 30
PUBACK_TIMEOUT_SECONDS = 10
#: A persistent session: replies published while this publisher reconnects (or restarts
#: under the same client id) wait in the broker. Short, because the broker keeps giving a
#: gone member of the shared subscription its share until the session expires.
SESSION_EXPIRY_SECONDS = 120
BACKOFF_MAX_SECONDS = 30.0


def client_for(broker: MqttAddress, *, identifier: str, clean_start: bool = False,
               **options) -> aiomqtt.Client:
    """An MQTT 5 client of `broker` (a persistent session unless `clean_start`)."""
    connect = Properties(PacketTypes.CONNECT)
    connect.SessionExpiryInterval = 0 if clean_start else SESSION_EXPIRY_SECONDS
    return aiomqtt.Client(
        broker.host, broker.port, username=broker.username or None,
        password=broker.password or None, identifier=identifier,
        protocol=aiomqtt.ProtocolVersion.V5, clean_start=clean_start, properties=connect,
        **options)


@dataclass(frozen=True)
class Outgoing:
    """A claimed command, ready to publish."""

    command_id: str
    topic: str
    payload: bytes
    expiry_seconds: int

    def properties(self) -> Properties:
        properties = Properties(PacketTypes.PUBLISH)
        properties.MessageExpiryInterval = self.expiry_seconds
        properties.CorrelationData = self.command_id.encode()
        properties.ContentType = "application/json"
        properties.ResponseTopic = self.topic.rsplit("/", 1)[0] + "/" + REPLIES
        return properties


def outgoing(command: MachineCommand, *, now: datetime) -> Outgoing:
    remaining = (command.expires_at - now).total_seconds()
    document = {"command": str(command.pk), "kind": command.kind, "params": command.params,
                "expiresAt": iso8601(command.expires_at)}
    return Outgoing(command_id=str(command.pk),
                    topic=device_topic(command.machine.serial_number, "commands"),
                    payload=json.dumps(document, separators=(",", ":")).encode(),
                    expiry_seconds=max(1, math.ceil(remaining)))


def claim_commands(*, limit: int = 100, now: datetime | None = None,
                   lease_seconds: int = LEASE_SECONDS) -> list[Outgoing]:
    """Queued, unexpired commands nobody holds, oldest first, leased to this caller."""
    now = now or timezone.now()
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)
    with transaction.atomic():
        rows = list(MachineCommand.objects.filter(free, state=CommandState.QUEUED,
                                                  expires_at__gt=now)
                    .select_related("machine").select_for_update(skip_locked=True, of=("self",))
                    .order_by("created_at")[:limit])
        MachineCommand.objects.filter(pk__in=[row.pk for row in rows]).update(
            claimed_until=now + timedelta(seconds=lease_seconds))
    claimed = []
    for row in rows:
        try:
            claimed.append(outgoing(row, now=now))
        except BadTopic:  # a serial no topic can carry: no device can ever receive it
            logger.error("commands: %s cannot be published to serial %r", row.pk,
                         row.machine.serial_number)
    return claimed


def _claim() -> list[Outgoing]:
    close_old_connections()
    return claim_commands()


def _delivered(command_id: str) -> bool:
    close_old_connections()
    return commands.mark_delivered(command_id)


def _reply(topic: str, payload: bytes) -> None:
    close_old_connections()
    try:
        serial, kind = parse_topic(topic)
    except BadTopic:
        logger.warning("commands: a reply on %r, not a device topic", topic)
        return
    if kind == REPLIES:
        commands.record_reply(serial=serial, payload=payload)


def _expire() -> int:
    close_old_connections()
    return commands.expire_commands()


claim = sync_to_async(_claim)
delivered = sync_to_async(_delivered)
reply = sync_to_async(_reply)
expire = sync_to_async(_expire)


async def publish_due(client: aiomqtt.Client) -> int:
    """Publish the claimed commands, each marked delivered on its PUBACK; how many."""
    sent = 0
    for message in await claim():
        await client.publish(message.topic, message.payload, qos=1,
                             properties=message.properties(), timeout=PUBACK_TIMEOUT_SECONDS)
        await delivered(message.command_id)
        sent += 1
    return sent


async def _publish_loop(client: aiomqtt.Client, *, poll: float, expire_every: float) -> None:
    loop = asyncio.get_running_loop()
    next_expiry = 0.0
    while True:
        try:
            if loop.time() >= next_expiry:
                await expire()
                next_expiry = loop.time() + expire_every
            if await publish_due(client):
                continue
        except aiomqtt.MqttError:
            raise  # the connection is gone: reconnect
        except Exception:  # the database blinked: the rows wait, try again
            logger.exception("commands: publishing failed")
        await asyncio.sleep(poll)


async def _reply_loop(client: aiomqtt.Client) -> None:
    async for message in client.messages:
        try:
            await reply(str(message.topic), bytes(message.payload or b""))
        except Exception:  # one bad reply (or a database blink) must not stop the loop
            logger.exception("commands: a reply on %s failed", message.topic)


def default_identifier() -> str:
    return f"vendhub-commands-{socket.gethostname()}"[:60]


async def run(broker: MqttAddress, *, stop: asyncio.Event, identifier: str | None = None,
              poll: float = 0.5, expire_every: float = 5.0,
              on_connected=None) -> None:
    """Publish commands and receive replies until `stop`, reconnecting with backoff
    (1 s doubling to 30 s) when the broker goes away."""
    backoff = 1.0
    identifier = identifier or default_identifier()
    while not stop.is_set():
        try:
            async with client_for(broker, identifier=identifier) as client:
                await client.subscribe(shared_subscription(REPLIES, group=COMMANDS_SHARE_GROUP),
                                       qos=1)
                logger.info("commands: connected to %s:%s as %s (pid %d)", broker.host,
                            broker.port, identifier, os.getpid())
                backoff = 1.0
                if on_connected is not None:
                    on_connected()
                tasks = [asyncio.create_task(_publish_loop(client, poll=poll,
                                                           expire_every=expire_every)),
                         asyncio.create_task(_reply_loop(client)),
                         asyncio.create_task(stop.wait())]
                done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                for task in done:
                    task.result()  # re-raise the broker error that ended a loop
        except aiomqtt.MqttError as exc:
            if stop.is_set():
                break
            logger.warning("commands: broker %s:%s unavailable (%s), retrying in %.0f s",
                           broker.host, broker.port, exc, backoff)
            try:
                await asyncio.wait_for(stop.wait(), backoff)
            except TimeoutError:
                pass
            backoff = min(BACKOFF_MAX_SECONDS, backoff * 2)
