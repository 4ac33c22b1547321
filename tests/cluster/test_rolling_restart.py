"""A rolling restart: each server process in turn is drained (SIGTERM: it refuses new
sessions, fails its health check, closes its sockets after parking their sessions) and
started again, while a dashboard (the official socket.io-client) follows a machine's room
and the machine posts readings. The client misses no reading's event and gets none twice
(recovered at each move), sees one reconnect per restart of its process, and ingestion
answers no 5xx: a request that finds a process gone is sent to the next one, as a device
(or the balancer) does."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from telemetry.device_keys import issue_device_key
from tests.cluster.backends import Backend, Follower, started_backends
from tests.realtime import test_interop_node as interop
from tests.realtime.conftest import token_for
from tests.realtime.product import publish
from tests.telemetry.conftest import reading_body

pytestmark = [pytest.mark.slow, pytest.mark.interop, pytest.mark.redis, pytest.mark.postgres]

node = interop.node  # the fixture: Node.js with socket.io-client installed, or a skip

#: Connection failures after which a device posts the same body to the next process.
GONE = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


@pytest.fixture
def backends(redis_url, transactional_db, personas):
    with started_backends(2) as started:
        yield started


@pytest.fixture
def device_key(personas) -> str:
    return issue_device_key(machine=personas.machine).plaintext


class Device:
    """Posts one reading every `interval` seconds, each with its own timestamp, to the
    first process that takes it; keeps every answer's status."""

    def __init__(self, backends: list[Backend], machine, key: str,
                 interval: float = 0.05) -> None:
        self.backends, self.machine, self.key, self.interval = backends, machine, key, interval
        self.start = datetime.now(UTC) - timedelta(hours=1)
        self.statuses: Counter[int] = Counter()
        self.stored: list[str] = []  # timestamps answered 201
        self.retries = 0
        self.running = True
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        current, n = 0, 0
        async with httpx.AsyncClient(timeout=10) as http:
            while self.running:
                body = reading_body(self.machine, at=self.start + timedelta(seconds=n))
                for _ in range(20):
                    backend = self.backends[current]
                    try:
                        response = await http.post(
                            f"{backend.url}/api/v1/telemetry/", json=body,
                            headers={"Authorization": f"Device {self.key}"})
                        break
                    except GONE:
                        self.retries += 1
                        current = (current + 1) % len(self.backends)
                        await asyncio.sleep(0.05)
                else:
                    raise AssertionError("no process took the reading")
                self.statuses[response.status_code] += 1
                if response.status_code == 201:
                    self.stored.append(body["timestamp"])
                n += 1
                await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        self.running = False
        await self.task


async def test_a_rolling_restart_loses_no_event_and_answers_no_5xx(node, backends, personas,
                                                                   device_key):
    a, b = backends
    machine = personas.machine
    room = f"machine:{machine.pk}"
    follower = await Follower.start(node, {"urls": [a.url, b.url], "rooms": [room],
                                           "token": token_for(personas.manager),
                                           "timeoutMs": 120_000})
    device = None
    drains = []
    try:
        await follower.wait_for("ready")
        device = Device(backends, machine, device_key)
        await asyncio.sleep(1.5)
        for backend in (a, b):  # the client's process first, then the one it moved to
            # In threads: the device and the client's reader go on meanwhile.
            drains.append(await asyncio.to_thread(backend.drain_and_wait))
            assert "drained:" in backend.log(), backend.log()[-2000:]
            await asyncio.to_thread(backend.start)
            await asyncio.sleep(1.5)
        await device.stop()
        await asyncio.sleep(0.5)
        await publish(room, "test:event", {"last": True})
        await follower.wait_for("done", timeout=20)
    finally:
        if device is not None and device.running:
            with contextlib.suppress(Exception):
                await device.stop()
        await follower.stop()
    assert not [status for status in device.statuses if status >= 500], device.statuses
    assert device.statuses[201] == len(device.stored) > 40
    connects = follower.of("connect")
    assert [c["recovered"] for c in connects] == [False, True, True], follower.lines
    assert [c["url"] for c in connects] == [a.url, b.url, a.url]
    assert len({(c["id"], c["pid"]) for c in connects}) == 1
    assert len(follower.of("disconnect")) == 2  # one per restart of its process
    seen = Counter(payload["timestamp"] for payload in follower.payloads("machine:telemetry"))
    stored = Counter(device.stored)
    missing = stored - seen
    twice = {timestamp for timestamp, count in seen.items() if count > 1}
    assert not missing and not twice, (sorted(missing), sorted(twice))
    print(f"\nrolling restart: drains took {', '.join(f'{d:.2f} s' for d in drains)}; "
          f"{len(device.stored)} readings, {device.retries} retried on the next process")
