"""Redis stops for ~10 s and comes back while a client is connected and telemetry flows.

The test starts its own `redis-server` on a free port (no persistence, so the restarted one
has forgotten every group) and a product server pointed at it. Readings are accepted and
stored throughout, quickly; the server reconnects by itself; the client, on the same
connection, gets `resync` and then live events again; nothing crashes.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgiref.sync import sync_to_async
from channels.layers import InMemoryChannelLayer
from django.db import connection

from realtime.rooms import group_name
from realtime.server.hub import Hub
from telemetry.device_keys import issue_device_key
from telemetry.models import TelemetryReading
from tests.conftest import unavailable
from tests.live import LiveServer, free_port
from tests.realtime.conftest import token_for
from tests.realtime.product import Gateway, raw_client
from tests.realtime.test_hub import Member, eventually
from tests.telemetry.conftest import reading_body

pytestmark = pytest.mark.timeout(90)

OUTAGE_SECONDS = 10.0
#: A POST while Redis is down must not wait on it for long.
MAX_POST_SECONDS = 2.0
RESYNC = '42["resync",{"reason":"redis-reconnected"}]'


class PrivateRedis:
    """A throwaway `redis-server` on `port`: no RDB, no AOF."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM with --save "": exits without saving
            self.process.wait(10)
        self.process = None


@pytest.fixture
def private_redis():
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed")
    redis = PrivateRedis(free_port()).start()
    yield redis
    redis.stop()


@pytest.fixture
def outage_gateway(transactional_db, personas, private_redis):
    env = {"REDIS_URL": private_redis.url, "REALTIME_MAP_TICK_MS": "200",
           "CHANNEL_LAYER_PREFIX": f"outage{private_redis.port}"}
    with LiveServer(env=env) as server:
        gateway = Gateway(server, personas)
        gateway.tokens["operator"] = token_for(personas.operator)
        gateway.tokens["device"] = issue_device_key(machine=personas.machine).plaintext
        yield gateway, private_redis


class Frames:
    """Reads a raw client's frames in the background (answering pings) into a queue."""

    def __init__(self, client) -> None:
        self.client = client
        self.queue: asyncio.Queue = asyncio.Queue()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            try:
                frame = await self.client.recv(3600)
            except TimeoutError:
                continue
            await self.queue.put(frame)

    async def until(self, predicate, timeout: float) -> list:
        """Frames read until one satisfies `predicate` (included)."""
        seen = []
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"no matching frame within {timeout}s; got {seen}")
            try:
                frame = await asyncio.wait_for(self.queue.get(), remaining)
            except TimeoutError:
                continue
            seen.append(frame)
            if predicate(frame):
                return seen

    def stop(self) -> None:
        self.task.cancel()


def telemetry_of(frame) -> bool:
    return isinstance(frame, str) and frame.startswith('42["machine:telemetry"')


def stored_readings(machine_id) -> int:
    try:
        return TelemetryReading.objects.filter(machine_id=machine_id).count()
    finally:
        connection.close()


@pytest.mark.redis
@pytest.mark.postgres
async def test_a_redis_restart_loses_no_reading_and_clients_resync_without_reconnecting(
        outage_gateway):
    gateway, redis = outage_gateway
    machine = gateway.people.machine
    start = datetime.now(UTC) - timedelta(minutes=5)
    posted = 0

    async def post(http: httpx.AsyncClient) -> tuple[int, float]:
        nonlocal posted
        body = reading_body(machine, at=start + timedelta(seconds=posted),
                            temperature=20 + posted % 5)
        began = time.monotonic()
        response = await http.post("/api/v1/telemetry/", json=body,
                                   headers={"Authorization": f"Device {gateway.tokens['device']}"})
        posted += 1
        return response.status_code, time.monotonic() - began

    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http, \
            raw_client(gateway, gateway.tokens["operator"]) as client:
        room = f"machine:{machine.id}"
        assert (await client.subscribe(room))["event"] == "subscribed"
        frames = Frames(client)
        try:
            assert (await post(http))[0] == 201
            await frames.until(telemetry_of, 5)

            redis.stop()
            outage = []
            ends = time.monotonic() + OUTAGE_SECONDS
            while time.monotonic() < ends:
                outage.append(await post(http))
                await asyncio.sleep(0.25)
            assert {code for code, _ in outage} == {201}, outage
            assert max(seconds for _, seconds in outage) < MAX_POST_SECONDS, outage
            assert await sync_to_async(stored_readings, thread_sensitive=False)(
                machine.id) == posted

            redis.start()  # same port, empty: no groups, no history
            seen = await frames.until(lambda frame: frame == RESYNC, 10)
            assert not any(telemetry_of(frame) for frame in seen), seen  # all lost meanwhile
            assert (await post(http))[0] == 201
            await frames.until(telemetry_of, 5)  # live again, on the same connection
        finally:
            frames.stop()

    assert gateway.server.process.poll() is None, "the server process died"
    log = gateway.server.log()
    assert "Traceback" not in log, log[-4000:]
    assert "channel layer reachable again" in log


# -- the hub's part, in process ----------------------------------------------------------------


class RestartableLayer(InMemoryChannelLayer):
    """An in-memory layer that can go down (every call fails) and come back empty."""

    down = False

    def _check(self) -> None:
        if self.down:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379")

    async def receive(self, channel):
        while True:  # poll, so that going down interrupts a waiting receive
            self._check()
            try:
                return await asyncio.wait_for(super().receive(channel), 0.05)
            except TimeoutError:
                continue

    async def group_add(self, group, channel):
        self._check()
        await super().group_add(group, channel)

    async def group_discard(self, group, channel):
        self._check()
        await super().group_discard(group, channel)

    def restart(self) -> None:
        self.groups.clear()  # no persistence: membership is forgotten
        self.down = False


async def test_the_hub_rejoins_its_groups_and_tells_each_socket_once_after_a_restart():
    layer = RestartableLayer()
    hub = Hub(layer, group_name=group_name)
    member, bystander = Member(), Member()
    try:
        for room in ("machine:m", "org:o"):
            await hub.join(member, room)
        await hub.join(bystander, "org:o")
        layer.down = True
        await eventually(lambda: hub.receive_failures >= 1, timeout=2)
        layer.restart()
        await eventually(lambda: hub.layer_recoveries == 1, timeout=5)
        assert member.frames == [RESYNC] and bystander.frames == [RESYNC]  # once per socket
        assert all(hub.channel_name in layer.groups[group_name(room)]
                   for room in ("machine:m", "org:o"))
        await hub.publish("machine:m", '42["after"]', "after")
        await eventually(lambda: '42["after"]' in member.frames, timeout=2)
        assert bystander.frames == [RESYNC]
    finally:
        await hub.stop()


async def test_a_room_left_before_a_restart_is_joined_again_after_it():
    """A room lingering in its group when Redis restarts is forgotten with the rest: the
    member who comes back must join the group again, or it would hear nothing."""
    layer = RestartableLayer()
    hub = Hub(layer, group_name=group_name, room_linger_ms=60_000)
    member, keeper = Member(), Member()
    try:
        await hub.join(keeper, "org:o")  # something to resync, so that recovery is seen
        await hub.join(member, "machine:m")
        await hub.leave(member, "machine:m")
        assert hub.stats()["lingering_rooms"] == 1
        layer.down = True
        await eventually(lambda: hub.receive_failures >= 1, timeout=2)
        layer.restart()
        await eventually(lambda: hub.layer_recoveries == 1, timeout=5)
        assert hub.stats()["lingering_rooms"] == 0
        await hub.join(member, "machine:m")
        assert hub.channel_name in layer.groups[group_name("machine:m")]
        await hub.publish("machine:m", '42["back"]', "back")
        await eventually(lambda: '42["back"]' in member.frames, timeout=2)
    finally:
        await hub.stop()

