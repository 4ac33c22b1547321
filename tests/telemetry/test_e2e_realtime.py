"""End to end: devices post over HTTP to a live server; real Socket.IO clients receive.

The server is `vendhub.asgi` under daphne in a subprocess on the test database, with Redis
(`REDIS_URL`); users log in through POST /api/v1/auth/token/ and connect python-socketio's
AsyncClient with the access token.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import socketio
from asgiref.sync import sync_to_async
from django.db import connections
from django.utils import timezone

from machines.models import Machine, MachineStatus, Task
from notifications.models import Notification
from telemetry.device_keys import issue_device_key
from tests import live
from tests.factories import PASSWORD
from tests.telemetry.conftest import reading_body

pytestmark = [pytest.mark.interop, pytest.mark.redis, pytest.mark.postgres]

WAIT = 10.0


#: The event that follows a new subscription, by room kind (realtime/namespaces.py).
SNAPSHOT_EVENTS = {"machine": "machine:telemetry", "machines": "machines:snapshot"}


class Listener:
    """A logged-in Socket.IO client that records every event it receives (the snapshots
    that follow subscriptions apart, in `snapshots`)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, object]] = []
        self.snapshots: dict[str, object] = {}
        self.arrived = asyncio.Event()

        @self.sio.on("*")
        async def record(event, *args):
            self.events.append((event, args[0] if args else None))
            self.arrived.set()

    async def subscribe(self, *rooms: str) -> None:
        for room in rooms:
            ack = await self.sio.call("subscribe", {"room": room}, timeout=5)
            assert ack == {"event": "subscribed", "data": {"room": room}}, (self.name, ack)
            snapshot_event = SNAPSHOT_EVENTS.get(room.partition(":")[0])
            if snapshot_event:
                await self.expect(snapshot_event, len(self.of(snapshot_event)) + 1)
                index = max(i for i, (name, _) in enumerate(self.events)
                            if name == snapshot_event)
                self.snapshots[room] = self.events.pop(index)[1]

    def of(self, event: str) -> list:
        return [payload for name, payload in self.events if name == event]

    async def expect(self, event: str, count: int = 1, timeout: float = WAIT) -> list:
        """Wait until `count` events named `event` arrived; returns their payloads."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.of(event)) < count:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"{self.name}: no {event!r} in {timeout}s; got {self.events}")
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), remaining)
            except TimeoutError:
                pass
        return self.of(event)


async def login(http: httpx.AsyncClient, username: str) -> str:
    response = await http.post("/api/v1/auth/token/",
                               json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()["access"]


@asynccontextmanager
async def listeners(server, http, **users):
    """{name: user} -> {name: connected Listener}, disconnected afterwards."""
    async with AsyncExitStack() as stack:
        connected = {}
        for name, user in users.items():
            listener = Listener(name)
            token = await login(http, user.username)
            await listener.sio.connect(server.url, auth={"token": token},
                                       transports=["websocket"], wait_timeout=5)
            stack.push_async_callback(listener.sio.disconnect)
            connected[name] = listener
        yield connected


@pytest.fixture(autouse=True)
async def _close_worker_thread_connections():
    """sync_to_async runs the ORM in a worker thread; close its connection afterwards, or the
    test database cannot be dropped at the end of the session."""
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
def fleet(live_server_process, personas, redis_url):
    key = issue_device_key(machine=personas.machine).plaintext
    return live_server_process, personas, key


async def post_reading(http: httpx.AsyncClient, key: str, body) -> httpx.Response:
    response = await http.post("/api/v1/telemetry/", json=body,
                               headers={"Authorization": f"Device {key}"})
    assert response.status_code in (200, 201), response.text
    return response


async def test_a_posted_reading_reaches_the_machine_room(fleet):
    server, people, key = fleet
    machine = people.machine
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        async with listeners(server, http, manager=people.manager) as ears:
            await ears["manager"].subscribe(f"machine:{machine.pk}")
            at = datetime.now(UTC) - timedelta(seconds=5)
            await post_reading(http, key, reading_body(machine, at=at, temperature=24.5,
                                                       bunkers={people.coffee: 640}))
            [telemetry] = await ears["manager"].expect("machine:telemetry")
    assert telemetry["machineId"] == str(machine.pk)
    assert telemetry["temperature"] == 24.5
    assert telemetry["timestamp"] == at.isoformat().replace("+00:00", "Z")
    levels = {b["bunkerId"]: b["currentLevel"] for b in telemetry["bunkers"]}
    assert levels[str(people.coffee.pk)] == 640


async def test_a_low_bunker_reaches_manager_and_operator_and_no_stranger(fleet):
    server, people, key = fleet
    machine = people.machine
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        async with listeners(server, http, manager=people.manager, operator=people.operator,
                             viewer=people.viewer, stranger=people.stranger) as ears:
            await ears["manager"].subscribe(f"machine:{machine.pk}", f"org:{people.acme.pk}",
                                            f"user:{people.manager.pk}")
            await ears["operator"].subscribe(f"tasks:{people.operator.pk}")
            await ears["viewer"].subscribe("machines:all")
            await ears["stranger"].subscribe(
                f"user:{people.stranger.pk}", f"org:{people.rival.pk}", "machines:all",
                f"machine:{people.rival_machine.pk}", f"tasks:{people.stranger.pk}")
            refused = await ears["stranger"].sio.call(
                "subscribe", {"room": f"machine:{machine.pk}"}, timeout=5)
            assert refused["event"] == "error"

            at = datetime.now(UTC) - timedelta(seconds=5)
            await post_reading(http, key, reading_body(machine, at=at, status="error",
                                                       bunkers={people.coffee: 120}))

            manager, operator = ears["manager"], ears["operator"]
            low = await manager.expect("inventory:low", count=2)  # machine room + org room
            [notification] = await manager.expect("notification")
            [task] = await operator.expect("task:updated")
            # The map's next tick: the machine's latest status, as the reference map expects.
            [status] = await ears["viewer"].expect("machine:status")
            await asyncio.sleep(1.0)  # anything misrouted would have arrived by now
            stranger_events = list(ears["stranger"].events)
            stranger_map = ears["stranger"].snapshots["machines:all"]
            viewer_map = ears["viewer"].snapshots["machines:all"]

    assert {event["bunkerId"] for event in low} == {str(people.coffee.pk)}
    assert low[0]["currentLevel"] == 120 and low[0]["lowLevelAlert"] is True
    assert notification["priority"] == "high"
    db_task = await sync_to_async(Task.objects.get)()
    assert task["id"] == str(db_task.pk) and task["assignee"] == people.operator.pk
    assert task["kind"] == "refill" and task["status"] == "todo"
    assert status == {"machineId": str(machine.pk), "status": "error",
                      "timestamp": at.isoformat().replace("+00:00", "Z")}
    assert stranger_events == []
    assert {m["machineId"] for m in stranger_map} == {str(people.rival_machine.pk)}
    assert str(machine.pk) in {m["machineId"] for m in viewer_map}
    assert str(people.rival_machine.pk) not in {m["machineId"] for m in viewer_map}


def _silence(machine_pk) -> None:
    Machine.objects.filter(pk=machine_pk).update(
        status=MachineStatus.ONLINE, last_seen_at=timezone.now() - timedelta(minutes=10))


def _run_watchdogs(n: int) -> list[str]:
    env = {**os.environ, "DATABASE_URL": live.test_database_url(), "DEBUG": "1"}
    processes = [subprocess.Popen([sys.executable, "manage.py", "watch_machines", "--once"],
                                  cwd=live.ROOT, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for _ in range(n)]
    outputs = [process.communicate(timeout=60)[0] for process in processes]
    assert all(process.returncode == 0 for process in processes), outputs
    return outputs


async def test_two_watchdogs_mark_a_silent_machine_offline_exactly_once(fleet):
    server, people, _ = fleet
    machine = people.machine
    await sync_to_async(_silence)(machine.pk)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        async with listeners(server, http, manager=people.manager,
                             viewer=people.viewer) as ears:
            await ears["manager"].subscribe(f"machine:{machine.pk}", f"user:{people.manager.pk}")
            await ears["viewer"].subscribe("machines:all")
            outputs = await asyncio.to_thread(_run_watchdogs, 2)
            [offline] = await ears["manager"].expect("machine:status")
            await ears["manager"].expect("notification")
            await ears["viewer"].expect("machine:status")
            await asyncio.sleep(1.5)  # a second flip would have arrived by now (map: next tick)
            manager_events = list(ears["manager"].events)
            viewer_events = list(ears["viewer"].events)

    assert sum(output.count("offline: ") for output in outputs) == 1, outputs
    assert offline["status"] == "offline" and offline["machineId"] == str(machine.pk)
    assert [name for name, _ in manager_events].count("machine:status") == 1
    assert [name for name, _ in manager_events].count("notification") == 1
    # The sweep also refreshes stale run-out forecasts, whose map summary (machine:runout)
    # is no status flip.
    assert [name for name, _ in viewer_events if name != "machine:runout"] == ["machine:status"]
    assert await sync_to_async(Notification.objects.count)() == 1
