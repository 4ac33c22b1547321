"""A server process killed with `kill -9` while its clients are subscribed and events flow:
the clients (the official socket.io-client) reconnect to another process and recover, with
`recovered` true and every event published meanwhile, once and in order, because their
sessions' recovery records were in Redis while they were alive
(realtime/server/sio/records.py): the killed process parked nothing. Once with two uvicorn
processes the clients reach directly, once through the whole cluster (HAProxy, Sentinel)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections import Counter

import pytest

from realtime.server.history import is_offset, parse_offset
from realtime.server.sio.records import FLUSH_SECONDS
from telemetry.device_keys import issue_device_key
from tests.cluster.backends import (
    Device,
    Follower,
    assert_every_reading_once,
    started_backends,
    stop_both,
    wait_for_every_reading,
)
from tests.realtime import test_interop_node as interop
from tests.realtime.conftest import token_for
from tests.realtime.product import publish
from tests.realtime.test_recovery import wait_parked

pytestmark = [pytest.mark.slow, pytest.mark.interop, pytest.mark.redis, pytest.mark.postgres,
              pytest.mark.timeout(240)]

node = interop.node  # the fixture: Node.js with socket.io-client installed, or a skip


@pytest.fixture
def backends(redis_url, transactional_db, personas):
    with started_backends(2) as started:
        yield started


class Publisher:
    """Publishes `test:event` {n} to `room` every `interval` seconds until stopped, then a
    last one with `last: true`."""

    def __init__(self, room: str, interval: float = 0.02) -> None:
        self.room, self.interval = room, interval
        self.sent = 0
        self.running = True
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while self.running:
            await publish(self.room, "test:event", {"n": self.sent})
            self.sent += 1
            await asyncio.sleep(self.interval)

    async def finish(self) -> int:
        self.running = False
        await self.task
        await publish(self.room, "test:event", {"n": self.sent, "last": True})
        self.sent += 1
        return self.sent


def assert_every_event_once_in_order(follower: Follower, count: int) -> None:
    events = [line for line in follower.of("event") if line["name"] == "test:event"]
    numbers = [line["args"][0]["n"] for line in events]
    twice = {n for n, seen in Counter(numbers).items() if seen > 1}
    assert numbers == list(range(count)), (f"twice: {sorted(twice)}, missing: "
                                           f"{sorted(set(range(count)) - set(numbers))}")
    offsets = [line["args"][-1] for line in events]
    assert all(is_offset(offset) for offset in offsets)
    assert offsets == sorted(offsets, key=parse_offset) and len(set(offsets)) == len(offsets)


async def test_clients_of_a_killed_process_recover_every_missed_event_on_another(
        node, backends, personas, redis_url):
    a, b = backends
    room = f"org:{personas.acme.id}"
    followers = [await Follower.start(node, {"urls": [a.url, b.url], "rooms": [room],
                                             "token": token_for(user), "timeoutMs": 60_000})
                 for user in (personas.manager, personas.operator, personas.viewer)]
    publisher = None
    try:
        for follower in followers:
            await follower.wait_for("ready")
        publisher = Publisher(room)
        for follower in followers:
            await follower.wait_for("event", 10)
            # Its session's record is in Redis within a flush (a second) of the subscribe.
            await wait_parked(redis_url, follower.of("connect")[0]["pid"])
        a.kill()
        killed_at = publisher.sent
        for follower in followers:
            await follower.wait_for("connect", 2)
        await asyncio.sleep(0.5)  # live events on B too
        total = await publisher.finish()
        assert total > killed_at + 5
        for follower in followers:
            await follower.wait_for("done", timeout=15)
    finally:
        if publisher is not None and publisher.running:
            with contextlib.suppress(Exception):
                await publisher.finish()
        for follower in followers:
            await follower.stop()
    for follower in followers:
        first, again = follower.of("connect")
        assert (first["url"], again["url"]) == (a.url, b.url)
        assert again["recovered"] is True, follower.lines
        assert (again["id"], again["pid"]) == (first["id"], first["pid"])
        assert len(follower.of("disconnect")) == 1
        assert_every_event_once_in_order(follower, total)
    assert "session recovered" in b.log()


@pytest.fixture
def device_key(transactional_db, personas) -> str:
    return issue_device_key(machine=personas.machine).plaintext


async def test_through_haproxy_a_killed_process_s_dashboard_recovers_every_reading(
        node, cluster, personas, device_key):
    """The whole cluster: the dashboard is on app1 (HAProxy's stickiness cookie), the machine
    posts through HAProxy, app1 is killed; HAProxy sends the reconnect to another process,
    which recovers the session from its live record."""
    room = f"machine:{personas.machine.pk}"
    follower = await Follower.start(node, {
        "urls": [cluster.url], "rooms": [room], "token": token_for(personas.manager),
        "extraHeaders": {"Cookie": "VENDHUB_BACKEND=app1"}, "timeoutMs": 120_000})
    device = None
    try:
        await follower.wait_for("ready")
        pid = follower.of("connect")[0]["pid"]
        device = Device(cluster.url, personas.machine, device_key, retry_server_errors=True)
        await follower.wait_for("event", 10)
        # A live record is written within FLUSH_SECONDS of a change: a crash inside that
        # second loses the new subscription by design (README), so kill after it.
        await asyncio.sleep(FLUSH_SECONDS + 0.5)
        await asyncio.to_thread(cluster.servers[0].signal, signal.SIGKILL)
        before_kill = len(device.stored)
        await follower.wait_for("connect", 2, timeout=30)
        while len(device.stored) < before_kill + 10:  # readings after the reconnect too
            await asyncio.sleep(0.2)
        await device.stop()
        await wait_for_every_reading(follower, device)
    finally:
        await stop_both(follower, device)
    first, again = follower.of("connect")
    assert again["recovered"] is True and (again["id"], again["pid"]) == (first["id"], pid)
    assert len(follower.of("disconnect")) == 1
    assert_every_reading_once(follower, device)
    print(f"\nkill -9 through HAProxy: {len(device.stored)} readings, answers "
          f"{dict(device.statuses)}")
