"""Server processes that the failure tests kill and restart, a client that follows them, and
a device that keeps posting readings meanwhile.

`Backend`: the product under uvicorn with README's production command, on a free port of
its own, on the test database and the test's Redis; killed (`kill -9`), drained (SIGTERM) and
started again on the same port. `Follower`: the official socket.io-client
(tests/interop/follow.mjs) subscribed to rooms, moving to the next process whenever its
connection is lost, as a load balancer would send it; its lines are read as they come.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.live import ROOT, LiveServer
from tests.telemetry.conftest import reading_body
from vendhub import cluster

FOLLOW = ROOT / "tests" / "interop" / "follow.mjs"


def uvicorn_argv(port: int) -> list[str]:
    """README "Serving": the production command, on loopback."""
    return cluster.uvicorn_argv("127.0.0.1", port)


class Backend(LiveServer):
    """One uvicorn server process that a test may kill, drain and start again."""

    def __init__(self, *, env: dict[str, str] | None = None) -> None:
        super().__init__(env=env, argv=uvicorn_argv)
        self.starts = 0

    def start(self, timeout: float = 30.0) -> Backend:
        self.starts += 1
        self.log_path = ROOT / "test-artifacts" / f"server-{self.port}-{self.starts}.log"
        super().start(timeout)
        return self

    def kill(self) -> None:
        """`kill -9`: nothing runs after it, nothing is parked."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def drain_and_wait(self, timeout: float = 30.0) -> float:
        """SIGTERM (a rolling restart's stop) and wait for the exit; returns the seconds."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout)
        return time.monotonic() - started


@contextmanager
def started_backends(count: int = 2):
    """`count` started Backends, each stopped on exit."""
    started: list[Backend] = []
    try:
        for _ in range(count):
            started.append(Backend().start())
        yield started
    finally:
        for backend in started:
            backend.stop()


class Follower:
    """A running follow.mjs: its JSON lines collected by a reader task."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict] = []
        self.arrived = asyncio.Event()
        self.reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def start(cls, node: str, scenario: dict) -> Follower:
        process = await asyncio.create_subprocess_exec(
            node, str(FOLLOW), json.dumps(scenario), cwd=Path(ROOT),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        return cls(process)

    async def _read(self) -> None:
        while True:
            raw = await self.process.stdout.readline()
            if not raw:
                return
            self.lines.append(json.loads(raw))
            self.arrived.set()

    def of(self, kind: str) -> list[dict]:
        return [line for line in self.lines if line["type"] == kind]

    async def wait_for(self, kind: str, count: int = 1, timeout: float = 15.0) -> list[dict]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.of(kind)) < count:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0 or self.reader.done():
                raise AssertionError(f"no {count} {kind!r} line(s) in time: {self.lines}")
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), min(remaining, 0.5))
            except TimeoutError:
                pass
        return self.of(kind)

    def payloads(self, name: str) -> list:
        """The first argument of every `name` event, in arrival order."""
        return [line["args"][0] for line in self.of("event") if line["name"] == name]

    def payload_values(self, name: str, key: str) -> list:
        """`key` of the first argument of every `name` event that has it."""
        return [payload[key] for payload in self.payloads(name)
                if isinstance(payload, dict) and key in payload]

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        self.reader.cancel()


class Device:
    """A machine posting one reading every `interval` seconds, each with its own timestamp,
    to `url` (the balancer); keeps every answer's status. A connection error, and with
    `retry_server_errors` a 5xx, is posted again (the body is idempotent), as a device does."""

    def __init__(self, url: str, machine, key: str, *, interval: float = 0.05,
                 retry_server_errors: bool = False) -> None:
        self.url, self.machine, self.key, self.interval = url, machine, key, interval
        self.retry_server_errors = retry_server_errors
        self.start = datetime.now(UTC) - timedelta(hours=1)
        self.statuses: Counter[int] = Counter()
        self.stored: list[str] = []  # timestamps answered 201
        self.running = True
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        n = 0
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as http:
            while self.running:
                body = reading_body(self.machine, at=self.start + timedelta(seconds=n))
                for _ in range(100):
                    try:
                        response = await http.post(
                            "/api/v1/telemetry/", json=body,
                            headers={"Authorization": f"Device {self.key}"})
                    except httpx.TransportError:
                        await asyncio.sleep(0.1)
                        continue
                    self.statuses[response.status_code] += 1
                    if response.status_code < 500 or not self.retry_server_errors:
                        break
                    await asyncio.sleep(0.1)
                if response.status_code == 201:
                    self.stored.append(body["timestamp"])
                n += 1
                await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        self.running = False
        await self.task


async def wait_for_every_reading(follower: Follower, device: Device,
                                 timeout: float = 15.0) -> None:
    """Until the follower got the `machine:telemetry` of every reading the device stored,
    then a little longer (an event sent twice would arrive meanwhile)."""
    stored = set(device.stored)
    deadline = time.monotonic() + timeout
    while not stored <= set(follower.payload_values("machine:telemetry", "timestamp")):
        assert time.monotonic() < deadline, "events of stored readings never arrived"
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.5)


def assert_every_reading_once(follower: Follower, device: Device) -> None:
    seen = Counter(follower.payload_values("machine:telemetry", "timestamp"))
    missing = Counter(device.stored) - seen
    twice = {timestamp for timestamp, count in seen.items() if count > 1}
    assert not missing and not twice, (sorted(missing), sorted(twice))


async def stop_both(follower: Follower, device: Device | None) -> None:
    """The test's end, whatever happened: the device stops posting, the client exits."""
    if device is not None and device.running:
        with suppress(Exception):
            await device.stop()
    await follower.stop()
