"""The Redis master is killed (`kill -9`) under the running cluster while dashboards follow a
machine's room on each of the three server processes and the machine posts readings through
HAProxy: the sentinels promote the replica, and every Redis client of the processes (channel
layer, recovery history, hub listener) follows it on its own.

The dashboards keep their websockets (no disconnect) and each gets `resync` for the gap;
afterwards a reading ingested by any process reaches the sockets of every process again.
Every reading the device posted is in PostgreSQL: one answered non-2xx is posted again, as a
device does. The gap each dashboard saw (its last event before the kill, its first after) is
measured, printed and bounded.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from telemetry.device_keys import issue_device_key
from telemetry.models import TelemetryReading
from tests.cluster.test_haproxy_cross_process_events import Through, pinned
from tests.realtime.conftest import token_for
from tests.realtime.product import raw_client
from tests.telemetry.conftest import reading_body
from vendhub.cluster_processes import wait_until
from vendhub.cluster_redis import MASTER_NAME, client

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres,
              pytest.mark.timeout(240)]

SERVERS = ("app1", "app2", "app3")
#: Longest silence a dashboard may see across the failover: the sentinels' 2 s
#: down-after (the cluster's), their election, and the hub's backoff (at most 2 s).
MAX_GAP_SECONDS = 15.0
POST_EVERY_SECONDS = 0.1
RESYNC = '42["resync",{"reason":"redis-reconnected"}]'


def reading_number(frame: object) -> int | None:
    """The number of the test's reading a `machine:telemetry` frame carries (its
    temperature is number / 10), or None for any other frame."""
    if not (isinstance(frame, str) and frame.startswith('42["machine:telemetry"')):
        return None
    temperature = json.loads(frame[2:])[1].get("temperature")
    return None if temperature is None else round(temperature * 10)


@dataclass
class Dashboard:
    """A socket pinned to one process; its frames are read (pings answered) as they come,
    each with its arrival time."""

    server: str
    client: object
    frames: list[tuple[float, object]] = field(default_factory=list)
    closed: BaseException | None = None

    def __post_init__(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        while True:
            try:
                frame = await self.client.recv(3600)
            except TimeoutError:
                continue
            except Exception as error:  # the websocket closed: recorded, asserted on
                self.closed = error
                return
            self.frames.append((time.monotonic(), frame))

    def readings(self, *, after: float = 0.0) -> dict[int, float]:
        """Reading number -> first arrival time, for frames that arrived after `after`."""
        seen: dict[int, float] = {}
        for at, frame in self.frames:
            number = reading_number(frame)
            if number is not None and at > after:
                seen.setdefault(number, at)
        return seen

    def resyncs(self) -> list[float]:
        return [at for at, frame in self.frames if frame == RESYNC]


class Device:
    """Posts reading n (temperature n / 10, its own timestamp) to process n % 3 through the
    balancer's cookie; a body answered non-2xx, or not answered, is posted again."""

    def __init__(self, url: str, machine, key: str) -> None:
        self.url, self.machine, self.key = url, machine, key
        self.posted = 0
        self.stored: list[str] = []  # timestamps answered 2xx
        self.refused: list[int | str] = []  # statuses (or errors) of the answers retried
        self.slowest = 0.0  # seconds, the slowest answer
        self.running = True

    async def run(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as http:
            while self.running:
                number = self.posted
                body = reading_body(self.machine, at=datetime.now(UTC),
                                    temperature=number / 10)
                await self._post_until_stored(http, body, SERVERS[number % 3])
                self.posted += 1
                await asyncio.sleep(POST_EVERY_SECONDS)

    async def _post_until_stored(self, http: httpx.AsyncClient, body: dict,
                                 server: str) -> None:
        while True:
            began = time.monotonic()
            try:
                response = await http.post("/api/v1/telemetry/", json=body, headers={
                    **pinned(server), "Authorization": f"Device {self.key}"})
            except httpx.TransportError as error:
                self.refused.append(type(error).__name__)
            else:
                self.slowest = max(self.slowest, time.monotonic() - began)
                if response.is_success:
                    self.stored.append(body["timestamp"])
                    return
                self.refused.append(response.status_code)
            await asyncio.sleep(0.5)


def stored_timestamps(machine_id) -> set[datetime]:
    try:
        return set(TelemetryReading.objects.filter(machine_id=machine_id)
                   .values_list("timestamp", flat=True))
    finally:
        connection.close()


async def wait_for(check, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s"
        await asyncio.sleep(0.1)


async def through_failover(what: str, dashboards: list[Dashboard], cluster,
                           trigger, *, new_master_port: int) -> dict[str, float]:
    """`trigger()` a failover; wait for the sentinels to name `new_master_port`, then for a
    new `resync` on every dashboard followed by readings of every process. Prints and
    returns each dashboard's gap: the longest time without a reading's event, from its last
    one before the trigger to its first after the resync."""
    resyncs = {d.server: len(d.resyncs()) for d in dashboards}
    began = time.monotonic()
    trigger()
    await wait_for(lambda: cluster.redis.master_address()[1] == new_master_port, timeout=30,
                   what=f"{what}: the sentinels naming the new master")
    promoted = time.monotonic() - began
    await wait_for(lambda: all(len(d.resyncs()) > resyncs[d.server] for d in dashboards),
                   timeout=30, what=f"{what}: resync on every dashboard")
    await wait_for(lambda: all(
        {n % 3 for n in d.readings(after=d.resyncs()[-1])} == {0, 1, 2} for d in dashboards),
        timeout=20, what=f"{what}: events of every process on every dashboard after resync")
    gaps = {}
    line = [f"{what}: new master named {promoted:.2f}s after"]
    for dashboard in dashboards:
        arrivals = sorted(dashboard.readings().values())
        last_before = max(at for at in arrivals if at <= began)
        first_after = min(at for at in arrivals if at > dashboard.resyncs()[-1])
        window = [at for at in arrivals if last_before <= at <= first_after]
        gaps[dashboard.server] = max(b - a for a, b in zip(window, window[1:], strict=False))
        line.append(f"{dashboard.server}: resync {dashboard.resyncs()[-1] - began:.2f}s, "
                    f"longest silence {gaps[dashboard.server]:.2f}s")
    print("\n" + "; ".join(line))
    return gaps


def back_as_replica(cluster, port: int) -> None:
    """Start the killed master again: the sentinels make it a replica of the new master
    (it comes back empty and takes the new master's data)."""
    cluster.redis.server_on(port).start()
    wait_until(lambda: client(port).info("replication").get("master_link_status") == "up",
               timeout=30, what="the old master in sync as a replica")


@pytest.fixture
def device_key(transactional_db, personas) -> str:
    return issue_device_key(machine=personas.machine).plaintext


@pytest.mark.django_db(transaction=True)
async def test_a_lost_redis_master_keeps_websockets_resyncs_them_and_loses_no_reading(
        cluster, personas, device_key):
    machine = personas.machine
    room = f"machine:{machine.pk}"
    redis = cluster.redis
    first_master, first_replica = redis.master_port, redis.replica_port
    device = Device(cluster.url, machine, device_key)
    async with AsyncExitStack() as stack:
        dashboards = []
        for server in SERVERS:
            client_ = await stack.enter_async_context(raw_client(
                Through(cluster.url), token_for(personas.operator), headers=pinned(server),
                compression=None))
            assert (await client_.subscribe(room))["event"] == "subscribed"
            dashboards.append(Dashboard(server, client_))
        posting = asyncio.get_running_loop().create_task(device.run())
        try:
            # Before: each dashboard hears readings ingested by each process.
            await wait_for(lambda: all({n % 3 for n in d.readings()} == {0, 1, 2}
                                       for d in dashboards), timeout=20,
                           what="events of every process on every dashboard")
            lost = await through_failover(
                "master killed (kill -9)", dashboards, cluster,
                lambda: redis.server_on(first_master).signal(signal.SIGKILL),
                new_master_port=first_replica)
            # The old master back as a replica, then a planned switchover to it: the
            # demoted master stays up, so connections to it are not closed by its death.
            await asyncio.to_thread(back_as_replica, cluster, first_master)
            switched = await through_failover(
                "SENTINEL FAILOVER", dashboards, cluster,
                lambda: client(redis.sentinel_ports[0]).execute_command(
                    "SENTINEL", "FAILOVER", MASTER_NAME),
                new_master_port=first_master)
        finally:
            device.running = False
            await posting
        for dashboard in dashboards:
            dashboard.task.cancel()

    print(f"\n{device.posted} readings posted (slowest answer {device.slowest:.2f}s), "
          f"{len(device.refused)} answers retried: {device.refused}")
    for dashboard in dashboards:
        assert dashboard.closed is None, f"{dashboard.server}: {dashboard.closed!r}"
    assert max(lost.values()) < MAX_GAP_SECONDS, lost
    assert max(switched.values()) < MAX_GAP_SECONDS, switched

    stored = await sync_to_async(stored_timestamps, thread_sensitive=False)(machine.pk)
    accepted = {datetime.fromisoformat(at.replace("Z", "+00:00")) for at in device.stored}
    assert len(accepted) == device.posted
    assert accepted <= stored, sorted(accepted - stored)[:5]
    for server in cluster.servers:
        assert server.running(), f"{server.name} exited:\n{server.log_tail()}"
        assert "channel layer reachable again" in server.log_path.read_text()
