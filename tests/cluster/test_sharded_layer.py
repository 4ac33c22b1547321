"""The channel layer sharded over two Redis masters (`CHANNEL_LAYER_REDIS_URLS`): two server
processes, two private `redis-server`s on free ports, REDIS_URL unset.

channels_redis hashes each group (a room) and each process channel to one shard; the test
takes two machines whose rooms fall on different shards, so each reading's event crosses
both. A reading ingested by one process reaches a socket on the other, for both machines;
and a session parked on one process recovers on the other, with the events it missed,
because the recovery history and the parked sessions stay in one Redis: REDIS_URL, which
is the first shard when unset.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from datetime import UTC, datetime

import httpx
import pytest
import redis.asyncio as aioredis
from channels_redis.utils import _consistent_hash

from realtime.rooms import group_name
from realtime.server.history import SESSION_KEY, STREAM_KEY, prefixed
from telemetry.device_keys import issue_device_key
from tests.cluster.backends import Backend
from tests.conftest import unavailable
from tests.factories import make_machine
from tests.live import free_port
from tests.machines.test_settings_from_environment import run_python
from tests.realtime.conftest import token_for
from tests.realtime.product import raw_client
from tests.realtime.test_redis_outage import PrivateRedis
from tests.telemetry.conftest import reading_body

SHARDS = 2

#: The layer's hosts and REDIS_URL as a process's settings make them.
HOSTS_PROBE = """
import json
import django
django.setup()
from django.conf import settings
hosts = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]
print(json.dumps({"redis_url": settings.REDIS_URL,
                  "hosts": [{k: v for k, v in host.items() if k != "retry_on_error"}
                            for host in hosts]}))
"""


def layer_hosts(**env: str) -> subprocess.CompletedProcess:
    return run_python(["-c", HOSTS_PROBE], **{"DEBUG": "1", "REDIS_SENTINELS": "", **env})


def test_one_layer_host_per_shard_url_and_the_history_on_the_first_shard():
    result = layer_hosts(CHANNEL_LAYER_REDIS_URLS=" redis://10.0.0.7:6379/0, redis://10.0.0.8/1,")
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout)
    assert [host["address"] for host in probe["hosts"]] == ["redis://10.0.0.7:6379/0",
                                                            "redis://10.0.0.8/1"]
    assert probe["hosts"][0]["socket_timeout"] == 10  # each shard gets the layer's options
    assert probe["redis_url"] == "redis://10.0.0.7:6379/0"


def test_with_redis_url_the_history_stays_there_while_the_layer_shards():
    result = layer_hosts(REDIS_URL="redis://10.0.0.5:6379/2",
                         CHANNEL_LAYER_REDIS_URLS="redis://10.0.0.7/0,redis://10.0.0.8/0")
    probe = json.loads(result.stdout)
    assert probe["redis_url"] == "redis://10.0.0.5:6379/2"
    assert len(probe["hosts"]) == 2


def test_shards_through_sentinel_are_masters_by_name():
    result = layer_hosts(REDIS_SENTINELS="10.0.0.1:26379",
                         CHANNEL_LAYER_SENTINEL_MASTERS="layer-a, layer-b",
                         REDIS_URL="redis://:s3cret@sentinel/3")
    assert result.returncode == 0, result.stderr
    hosts = json.loads(result.stdout)["hosts"]
    assert [host["master_name"] for host in hosts] == ["layer-a", "layer-b"]
    assert all(host["sentinels"] == [["10.0.0.1", 26379]] and host["password"] == "s3cret"
               and host["db"] == 3 and "address" not in host for host in hosts)


@pytest.mark.parametrize(("env", "message"), [
    ({"CHANNEL_LAYER_REDIS_URLS": "10.0.0.7:6379"},
     "CHANNEL_LAYER_REDIS_URLS: '10.0.0.7:6379' is not a redis:// URL"),
    ({"REDIS_SENTINELS": "10.0.0.1:26379", "CHANNEL_LAYER_REDIS_URLS": "redis://10.0.0.7/0"},
     "CHANNEL_LAYER_REDIS_URLS: with REDIS_SENTINELS name the shards' masters"),
    ({"REDIS_URL": "redis://10.0.0.7/0", "CHANNEL_LAYER_SENTINEL_MASTERS": "layer-a"},
     "CHANNEL_LAYER_SENTINEL_MASTERS needs REDIS_SENTINELS"),
])
def test_a_bad_shard_setting_stops_the_process_naming_the_variable(env, message):
    result = layer_hosts(**env)
    assert result.returncode != 0
    assert message in result.stderr


@pytest.fixture
def shards():
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed")
    started: list[PrivateRedis] = []
    try:
        for _ in range(SHARDS):
            started.append(PrivateRedis(free_port()).start())
        yield started
    finally:
        for shard in started:
            shard.stop()


def shard_of(room: str) -> int:
    """The shard channels_redis keeps `room`'s group on."""
    return _consistent_hash(group_name(room), SHARDS)


@pytest.fixture
def machines(transactional_db, personas):
    """Two machines of Acme whose rooms fall on different shards, with their device keys."""
    first = personas.machine
    second = make_machine(personas.acme)
    while shard_of(f"machine:{second.pk}") == shard_of(f"machine:{first.pk}"):
        second.delete()
        second = make_machine(personas.acme)
    return [(machine, issue_device_key(machine=machine).plaintext)
            for machine in (first, second)]


@pytest.fixture
def backends(shards, machines):
    env = {"REDIS_URL": "", "REDIS_SENTINELS": "",
           "CHANNEL_LAYER_REDIS_URLS": ",".join(shard.url for shard in shards),
           "CHANNEL_LAYER_PREFIX": f"sharded{shards[0].port}"}
    started: list[Backend] = []
    try:
        for _ in range(2):
            started.append(Backend(env=env).start())
        yield started
    finally:
        for backend in started:
            backend.stop()


async def post_reading(http: httpx.AsyncClient, url: str, machine, key: str,
                       temperature: float) -> None:
    body = reading_body(machine, at=datetime.now(UTC), temperature=temperature)
    response = await http.post(f"{url}/api/v1/telemetry/", json=body,
                               headers={"Authorization": f"Device {key}"})
    assert response.status_code == 201, response.text


async def telemetry(client, timeout: float = 10.0) -> dict[str, float]:
    """machineId -> temperature of the next `machine:telemetry` events, until one per
    machine subscribed (other events skipped)."""
    seen: dict[str, float] = {}
    deadline = asyncio.get_running_loop().time() + timeout
    while len(seen) < 2:
        remaining = deadline - asyncio.get_running_loop().time()
        assert remaining > 0, f"only {seen} within {timeout}s"
        name, *args = await client.next_event(remaining)
        if name == "machine:telemetry":
            seen[args[0]["machineId"]] = args[0]["temperature"]
    return seen


async def keys_of(shard: PrivateRedis, pattern: str) -> set[str]:
    client = aioredis.from_url(shard.url, decode_responses=True)
    try:
        return set(await client.keys(pattern))
    finally:
        await client.aclose()


async def wait_parked(shard: PrivateRedis, key: str, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await keys_of(shard, key):
        assert asyncio.get_running_loop().time() < deadline, f"{key} not parked"
        await asyncio.sleep(0.05)


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.timeout(120)
@pytest.mark.django_db(transaction=True)
async def test_fan_out_and_recovery_cross_processes_over_two_layer_shards(
        backends, shards, machines, personas):
    a, b = backends
    prefix = f"sharded{shards[0].port}"
    rooms = [f"machine:{machine.pk}" for machine, _ in machines]
    assert {shard_of(room) for room in rooms} == {0, 1}
    token = token_for(personas.operator)
    async with httpx.AsyncClient(timeout=10) as http:
        async with raw_client(a, token, compression=None) as on_a:
            for room in rooms:
                assert (await on_a.subscribe(room))["event"] == "subscribed"
            # Each room's group is on its shard, and nowhere else.
            for index, shard in enumerate(shards):
                groups = await keys_of(shard, f"{prefix}:group:rt.machine.*")
                assert groups == {f"{prefix}:group:{group_name(room)}" for room in rooms
                                  if shard_of(room) == index}
            for n, (machine, key) in enumerate(machines):
                await post_reading(http, b.url, machine, key, 10 + n)
            assert await telemetry(on_a) == {str(machine.pk): 10 + n
                                             for n, (machine, _) in enumerate(machines)}
            pid, offset = on_a.pid, on_a.offset
        # Parked by A in REDIS_URL's Redis: the first shard.
        await wait_parked(shards[0], prefixed(prefix, SESSION_KEY.format(pid=pid)))

        for n, (machine, key) in enumerate(machines):
            await post_reading(http, b.url, machine, key, 20 + n)
        async with raw_client(b, token, compression=None, pid=pid, offset=offset) as on_b:
            assert on_b.pid == pid  # recovered, not a fresh session
            assert await telemetry(on_b) == {str(machine.pk): 20 + n
                                             for n, (machine, _) in enumerate(machines)}
            # Live again on B, ingested by A this time.
            for n, (machine, key) in enumerate(machines):
                await post_reading(http, a.url, machine, key, 30 + n)
            assert await telemetry(on_b) == {str(machine.pk): 30 + n
                                             for n, (machine, _) in enumerate(machines)}

    # One history for every event, in the first shard only.
    assert await keys_of(shards[0], prefixed(prefix, STREAM_KEY)) == {
        prefixed(prefix, STREAM_KEY)}
    assert await keys_of(shards[1], f"{prefix}:rt:*") == set()
    for backend in backends:
        assert "Traceback" not in backend.log(), backend.log()[-3000:]
