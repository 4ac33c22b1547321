"""The connect path under load: connects that arrive together share their database reads,
a dashboard's usual rooms cost no query, and what a viewer may join is read afresh at each
connect (a revoked membership takes effect at the next connect)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from channels.db import database_sync_to_async as in_database  # gives its connection back
from django.db import connection

from machines.models import Membership
from realtime.events import MACHINES_SNAPSHOT
from realtime.server.batching import BatchedLoad, shared_read
from tests.factories import make_user
from tests.realtime.conftest import token_for
from tests.realtime.product import raw_client

ROOT = Path(__file__).resolve().parents[2]


class Reads:
    """A `load_many` that records the key sets it was called with; `gate` holds a read."""

    def __init__(self) -> None:
        self.calls: list[frozenset] = []
        self.gate: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.fail_next = False

    def __call__(self, keys: frozenset) -> dict:
        self.calls.append(keys)
        if self.gate is not None:
            asyncio.run_coroutine_threadsafe(self.gate.wait(), self.loop).result(timeout=10)
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("database unavailable")
        return {key: f"value of {key}" for key in keys if key != "missing"}


# -- BatchedLoad ---------------------------------------------------------------------------


def batched(reads: Reads, **options) -> BatchedLoad:
    """A BatchedLoad of a database read, as realtime/namespaces.py makes them."""
    return BatchedLoad(in_database(reads), **options)


async def test_loads_asked_together_share_one_read():
    reads = Reads()
    loader = batched(reads)
    values = await asyncio.gather(*(loader.load(key) for key in ["a", "b", "a", "c"]))
    assert values == ["value of a", "value of b", "value of a", "value of c"]
    assert reads.calls == [frozenset({"a", "b", "c"})]


async def test_a_missing_key_loads_as_none():
    loader = batched(Reads())
    assert await asyncio.gather(loader.load("missing"), loader.load("a")) == [None, "value of a"]


async def test_a_key_asked_during_a_read_waits_for_the_next_read():
    """Never an answer read before the question: the caller may have just joined a room
    (snapshot after join) or just had its membership revoked."""
    reads = Reads()
    reads.loop = asyncio.get_running_loop()
    reads.gate = asyncio.Event()
    loader = batched(reads)
    first = asyncio.ensure_future(loader.load("a"))
    while not reads.calls:
        await asyncio.sleep(0.01)
    later = [asyncio.ensure_future(loader.load(key)) for key in ["a", "b"]]
    await asyncio.sleep(0.05)
    assert reads.calls == [frozenset({"a"})]
    reads.gate.set()
    assert await first == "value of a"
    assert [await f for f in later] == ["value of a", "value of b"]
    assert reads.calls == [frozenset({"a"}), frozenset({"a", "b"})]


async def test_a_read_that_fails_fails_its_callers_only():
    reads = Reads()
    reads.fail_next = True
    loader = batched(reads)
    results = await asyncio.gather(loader.load("a"), loader.load("b"), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert await loader.load("a") == "value of a"


async def test_keys_asked_soon_after_a_read_share_the_next_one():
    """Reads are spaced by `min_interval`: under a storm, callers arriving one by one are
    batched instead of each getting a read of its own."""
    reads = Reads()
    loader = batched(reads, min_interval=0.5)
    assert await loader.load("a") == "value of a"
    later = []
    for key in "bcd":
        later.append(asyncio.ensure_future(loader.load(key)))
        await asyncio.sleep(0.02)  # one by one, each after the previous one was asked
    assert [await f for f in later] == ["value of b", "value of c", "value of d"]
    assert reads.calls == [frozenset("a"), frozenset("bcd")]


async def test_a_read_fetches_at_most_max_keys():
    reads = Reads()
    loader = batched(reads, max_keys=2)
    values = await asyncio.gather(*(loader.load(key) for key in "abcde"))
    assert values == [f"value of {key}" for key in "abcde"]
    assert [len(keys) for keys in reads.calls] == [2, 2, 1]


# -- shared_read ----------------------------------------------------------------------------


class Head:
    """An async read that counts its calls; `gate` holds the running one."""

    def __init__(self) -> None:
        self.calls = 0
        self.gate: asyncio.Event | None = None
        self.fail_next = False

    async def __call__(self) -> str:
        self.calls += 1
        call = self.calls
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("redis unavailable")
        return f"head {call}"


async def test_reads_asked_together_share_one_call():
    head = Head()
    shared = shared_read(head)
    assert await asyncio.gather(*(shared() for _ in range(50))) == ["head 1"] * 50
    assert head.calls == 1


async def test_a_read_asked_during_a_call_gets_the_next_call():
    """Never a value read before the question (a session's history base must not predate
    the session)."""
    head = Head()
    head.gate = asyncio.Event()
    shared = shared_read(head)
    first = asyncio.ensure_future(shared())
    while not head.calls:
        await asyncio.sleep(0.01)
    later = [asyncio.ensure_future(shared()) for _ in range(3)]
    await asyncio.sleep(0.05)
    assert head.calls == 1
    head.gate.set()
    assert await first == "head 1"
    assert [await f for f in later] == ["head 2"] * 3
    assert head.calls == 2


async def test_a_failed_call_fails_its_callers_only():
    head = Head()
    head.fail_next = True
    shared = shared_read(head)
    results = await asyncio.gather(shared(), shared(), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert await shared() == "head 2"


async def test_a_cancelled_caller_does_not_stop_the_others():
    head = Head()
    head.gate = asyncio.Event()
    shared = shared_read(head)
    leaving, staying = asyncio.ensure_future(shared()), asyncio.ensure_future(shared())
    await asyncio.sleep(0.01)
    leaving.cancel()
    head.gate.set()
    assert await staying == "head 1"
    assert leaving.cancelled()


# -- connect timeout -------------------------------------------------------------------------


async def test_the_connect_timeout_ends_with_the_first_connect():
    """As the reference server: once a namespace is connected the connect timer is gone, so
    a client that leaves its namespace is not closed by it (and a connected socket keeps no
    timer for the rest of the timeout)."""
    from channels.routing import URLRouter
    from channels.testing import WebsocketCommunicator

    from realtime.server.conf import RealtimeConfig
    from realtime.server.routing import endpoints, socketio_server
    from realtime.server.sio import Namespace
    from tests.realtime.wire import CONNECT_REPLY, parse_open

    config = RealtimeConfig(connect_timeout_ms=100, ping_interval_ms=60_000)
    _, websocket = endpoints("socket.io", socketio_server(config, {"/": Namespace()}))
    communicator = WebsocketCommunicator(URLRouter(websocket),
                                         "/socket.io/?EIO=4&transport=websocket")
    assert (await communicator.connect())[0]
    parse_open((await communicator.receive_output(1))["text"])
    await communicator.send_to(text_data="40")
    assert CONNECT_REPLY.match((await communicator.receive_output(1))["text"])
    await communicator.send_to(text_data="41")
    assert await communicator.receive_nothing(0.4)
    await communicator.disconnect()


# -- process settings (each read by a fresh interpreter with a controlled environment) -----

#: Variables of the environment the probes below set themselves.
PROBED = ("DATABASE_URL", "REDIS_URL", "DB_POOL", "DB_CONN_MAX_AGE", "GC_THRESHOLDS",
          "GC_FREEZE")
POOL_PROBE = """
from django.conf import settings
print(json.dumps(settings.DATABASES["default"].get("OPTIONS", {}).get("pool")))
"""
GC_PROBE = """
import gc
import vendhub.asgi
print(json.dumps([gc.get_threshold(), gc.get_freeze_count()]))
"""


def probe(code: str, **env: str):
    """What `code` prints (JSON), run with Django set up from the settings and `env`."""
    clean = {k: v for k, v in os.environ.items() if k not in PROBED}
    result = subprocess.run(
        [sys.executable, "-c", "import json, django; django.setup()\n" + code], cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "vendhub.settings", "DEBUG": "1", **env},
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_postgresql_gets_a_connection_pool_and_the_embedded_sqlite_none():
    postgres = "postgres://postgres@127.0.0.1:5432/vendhub"
    assert probe(POOL_PROBE, DATABASE_URL=postgres)["max_size"] >= 2
    assert probe(POOL_PROBE) is None
    assert probe(POOL_PROBE, DATABASE_URL=postgres, DB_POOL="0") is None
    # Persistent per-thread connections and a pool exclude each other.
    assert probe(POOL_PROBE, DATABASE_URL=postgres, DB_CONN_MAX_AGE="60") is None


@pytest.mark.django_db
def test_the_test_database_is_reached_through_the_pool_on_postgresql():
    pooled = getattr(connection, "pool", None) is not None
    assert pooled == (connection.vendor == "postgresql")


def test_the_server_process_tunes_its_garbage_collector():
    """Rarer collections, and the objects of startup frozen out of them (a storm of
    reconnects otherwise spends a third of its CPU in full collections)."""
    thresholds, frozen = probe(GC_PROBE)
    assert thresholds[0] > 700 and frozen > 10_000
    assert probe(GC_PROBE, GC_THRESHOLDS="", GC_FREEZE="0") == [[700, 10, 10], 0]
    assert probe(GC_PROBE, GC_THRESHOLDS="20000,5,5")[0] == [20000, 5, 5]


# -- end to end ------------------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.postgres
async def test_dashboards_connecting_at_once_get_their_own_rooms_and_snapshots(gateway):
    people = gateway.people
    acme = str(people.acme.id)
    rival = str(people.rival.id)

    async def dashboard(name: str, org: str):
        user = getattr(people, name)
        async with raw_client(gateway, gateway.tokens[name]) as client:
            answers = [await client.subscribe(room) for room in
                       ("machines:all", f"user:{user.pk}", f"org:{org}")]
            foreign = await client.subscribe(f"org:{rival if org == acme else acme}")
            return answers, client.snapshots["machines:all"], foreign

    crowd = ["manager", "operator", "viewer", "stranger"] * 5
    results = await asyncio.gather(*(
        dashboard(name, rival if name == "stranger" else acme) for name in crowd))
    for name, (answers, snapshot, foreign) in zip(crowd, results, strict=True):
        assert [a["event"] for a in answers] == ["subscribed"] * 3, (name, answers)
        event, machines = snapshot
        assert event == MACHINES_SNAPSHOT
        own = people.rival_machine if name == "stranger" else people.machine
        other = people.machine if name == "stranger" else people.rival_machine
        ids = {m["machineId"] for m in machines}
        assert str(own.id) in ids and str(other.id) not in ids
        assert foreign["event"] == "error", (name, foreign)


@pytest.mark.redis
@pytest.mark.postgres
async def test_a_revoked_membership_takes_effect_at_the_next_connect(gateway):
    people = gateway.people
    member = await in_database(make_user)("soon-gone", organization=people.acme)
    token = await in_database(token_for)(member)
    org_room = f"org:{people.acme.id}"
    async with raw_client(gateway, token) as client:
        assert (await client.subscribe(org_room))["event"] == "subscribed"
    await in_database(lambda: Membership.objects.filter(user=member).delete())()
    async with raw_client(gateway, token) as client:
        refused = await client.subscribe(org_room)
        assert refused["event"] == "error"
        assert (await client.subscribe("machines:all"))["event"] == "error"
        assert (await client.subscribe(f"user:{member.pk}"))["event"] == "subscribed"


@pytest.mark.redis
@pytest.mark.postgres
async def test_a_deactivated_user_cannot_connect_again(gateway):
    people = gateway.people
    token = gateway.tokens["operator"]
    async with raw_client(gateway, token) as client:
        assert (await client.subscribe(f"user:{people.operator.pk}"))["event"] == "subscribed"
    people.operator.is_active = False
    await in_database(people.operator.save)()
    from tests.realtime.product import connect_error

    refusal = await connect_error(gateway, "40" + json.dumps({"token": token}))
    assert "inactive" in refusal["message"]
