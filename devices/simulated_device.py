"""A simulated machine's MQTT side, for `simulate_fleet --transport mqtt`.

Each machine is its own MQTT 5 client with its own credentials (its serial and its device
key), as a telemetry module on a cellular link: it measures whether or not it is connected
(`SimulatedMachine.step`), publishes its vends, readings and audits to its own topics with
QoS 1 once connected (the same JSON documents, and the same DEX text, as over HTTP), keeps
what it could not send, and reconnects with a growing, jittered backoff. It subscribes to its
`commands` topic and answers each command on its `replies` topic like a real controller:
maintenance and prices applied locally, a reboot answered and then off the network for a few
seconds, an audit requested published at once; with the configured odds it fails a command
or never answers it (the back office then sees it expire).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from devices.broker import MqttAddress
from devices.topics import device_topic
from telemetry.simulator import SimulatedMachine

logger = logging.getLogger(__name__)

#: Readings a device keeps while it cannot send (the oldest go first).
MAX_PENDING = 5000
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0
#: How long a reboot keeps the machine off the network, seconds.
REBOOT_SECONDS = (3.0, 8.0)
#: Commands a device remembers, so that a redelivered one (QoS 1) is answered, not redone.
REMEMBERED = 64


@dataclass
class CommandHabits:
    """How the simulated controllers answer commands."""

    failure_rate: float = 0.05  # answer {"ok": false, "error": ...}
    silence_rate: float = 0.03  # never answer: the command expires


class MqttDevice:
    """One machine's connection: `run()` until `stopping` is set."""

    def __init__(self, machine: SimulatedMachine, *, broker: MqttAddress, key: str,
                 interval: float, batch: int, stats: Counter, stopping: asyncio.Event,
                 habits: CommandHabits | None = None) -> None:
        self.machine, self.broker, self.key = machine, broker, key
        self.interval, self.batch, self.stats, self.stopping = interval, batch, stats, stopping
        self.habits = habits or CommandHabits()
        self.rng = machine.rng
        self.serial = machine.serial_number
        self.pending: list[dict] = []  # readings measured, not acknowledged by the broker
        self.wake = asyncio.Event()
        self.off_network_until = 0.0  # monotonic: a reboot in progress
        self.answered: OrderedDict[str, dict] = OrderedDict()

    # -- the machine's own clock ---------------------------------------------------------

    async def measure(self) -> None:
        """Step the machine every interval, connected or not."""
        await self.pause(self.rng.uniform(0, self.interval))  # spread the fleet out
        last = time.monotonic()
        while not self.stopping.is_set():
            now = time.monotonic()
            self.pending += self.machine.step(datetime.now(UTC), now - last)
            del self.pending[:-MAX_PENDING]
            last = now
            self.wake.set()
            await self.pause(self.interval * self.rng.uniform(0.9, 1.1))

    def reachable(self) -> bool:
        return not self.machine.offline and time.monotonic() >= self.off_network_until

    async def pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.stopping.wait(), seconds)
        except TimeoutError:
            pass

    # -- the connection --------------------------------------------------------------------

    def client(self) -> aiomqtt.Client:
        connect = Properties(PacketTypes.CONNECT)
        # A persistent session: commands published while the link is down wait in the
        # broker (until their own expiry).
        connect.SessionExpiryInterval = 3600
        return aiomqtt.Client(self.broker.host, self.broker.port, username=self.serial,
                              password=self.key, identifier=f"vendhub-sim-{self.serial}"[:60],
                              protocol=aiomqtt.ProtocolVersion.V5, clean_start=False,
                              properties=connect, keepalive=30, timeout=10)

    async def run(self) -> None:
        measuring = asyncio.create_task(self.measure())
        backoff = BACKOFF_FIRST
        try:
            while not self.stopping.is_set():
                if not self.reachable():
                    await self.pause(0.5)
                    continue
                try:
                    async with self.client() as client:
                        await client.subscribe(device_topic(self.serial, "commands"), qos=1)
                        self.stats["connects"] += 1
                        backoff = BACKOFF_FIRST
                        await self._connected(client)
                    continue  # left on purpose (off the network, or stopping)
                except aiomqtt.MqttError as exc:
                    self.stats["disconnects"] += 1
                    self.stats[f"mqtt: {type(exc).__name__}"] += 1
                # A cellular modem's retry: growing, with jitter, so a fleet that lost the
                # broker together does not come back together.
                await self.pause(backoff * self.rng.uniform(0.5, 1.5))
                backoff = min(BACKOFF_MAX, backoff * 2)
        finally:
            measuring.cancel()
            await asyncio.gather(measuring, return_exceptions=True)

    async def _connected(self, client: aiomqtt.Client) -> None:
        tasks = [asyncio.create_task(self.send(client)), asyncio.create_task(self.answer(client)),
                 asyncio.create_task(self.until_off_network()),
                 asyncio.create_task(self.stopping.wait())]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            task.result()  # a broker error leaves the connection

    async def until_off_network(self) -> None:
        while self.reachable():
            await asyncio.sleep(0.5)
        self.stats["went offline"] += 1

    # -- device → server ---------------------------------------------------------------------

    async def publish(self, client: aiomqtt.Client, kind: str, payload: str) -> None:
        self.stats["requests"] += 1
        try:
            await client.publish(device_topic(self.serial, kind), payload, qos=1, timeout=15)
        except aiomqtt.MqttError:
            self.stats["failed"] += 1
            raise

    async def send(self, client: aiomqtt.Client) -> None:
        """Publish what waits, in the HTTP path's order: vends (a reading's levels count
        them; an audit's period must find them), readings, then audits."""
        machine = self.machine
        while True:
            await self.wake.wait()
            self.wake.clear()
            while machine.vends:
                chunk = machine.vends[:self.batch]
                await self.publish(client, "sales", json.dumps(chunk))
                del machine.vends[:len(chunk)]
                self.stats["vends"] += len(chunk)
                self.stats["revenue"] += sum(vend["price"] for vend in chunk)
            while self.pending:
                chunk = self.pending[:self.batch]
                await self.publish(client, "telemetry",
                                   json.dumps(chunk[0] if len(chunk) == 1 else chunk))
                del self.pending[:len(chunk)]
                self.stats["readings"] += len(chunk)
            while machine.audits:
                await self.publish(client, "audit", machine.audits[0])
                machine.audits.pop(0)
                self.stats["audits"] += 1

    # -- server → device: commands -------------------------------------------------------------

    async def answer(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            try:
                command = json.loads(message.payload)
                command_id = str(command["command"])
            except (TypeError, ValueError, KeyError):
                self.stats["bad commands"] += 1
                continue
            reply = self.answered.get(command_id) or self.carry_out(command)
            if reply is None:
                continue  # this one goes unanswered
            await self.publish(client, "replies", json.dumps(reply))
            self.stats["commands answered"] += 1
            if command.get("kind") == "reboot" and command_id not in self.answered:
                self.off_network_until = time.monotonic() + self.rng.uniform(*REBOOT_SECONDS)
            self.answered[command_id] = reply
            while len(self.answered) > REMEMBERED:
                self.answered.popitem(last=False)
            self.wake.set()  # a requested audit goes out now

    def carry_out(self, command: dict) -> dict | None:
        """The answer to a new command, or None when this controller stays silent."""
        self.stats["commands"] += 1
        if self.rng.random() < self.habits.silence_rate:
            self.stats["commands unanswered"] += 1
            return None
        command_id = str(command["command"])
        if self.rng.random() < self.habits.failure_rate:
            self.stats["commands failed"] += 1
            return {"command": command_id, "ok": False, "error": "controller busy"}
        error = self.machine.carry_out(str(command.get("kind")), command.get("params") or {},
                                       datetime.now(UTC))
        if error:
            self.stats["commands failed"] += 1
            return {"command": command_id, "ok": False, "error": error}
        return {"command": command_id, "ok": True}
