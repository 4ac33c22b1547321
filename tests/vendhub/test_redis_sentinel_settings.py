"""Redis through Sentinel (vendhub/settings.py, vendhub/redis_sentinel.py): with
`REDIS_SENTINELS` and `REDIS_SENTINEL_MASTER`, the channel layer, the recovery history and
the login throttles' cache ask the sentinels for the master, and follow it to the replica
the sentinels promote when the master is lost.

The settings cases import the settings in a fresh interpreter; the live ones run a probe
process against a private master, replica and three sentinels (vendhub/cluster_redis.py).
"""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.cluster.support import require_cluster_binaries
from tests.machines.test_settings_from_environment import run_python
from vendhub.cluster_redis import MASTER_NAME, RedisSentinelSet, client
from vendhub.redis_sentinel import SentinelConfigError, parse_sentinels

LAYER_PROBE = """
import json
from django.conf import settings
host = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]
print(json.dumps({
    "redis_url": settings.REDIS_URL,
    "host": {k: v for k, v in host.items() if k != "retry_on_error"},
    "throttle_pool": settings.CACHES["throttle"]["OPTIONS"].get("pool_class"),
}))
"""

#: Every Redis client of a server process, built from the settings, used once.
LIVE_PROBE = """
import asyncio, json
import django
django.setup()
from channels.layers import get_channel_layer
from django.core.cache import caches
from realtime.server.history import get_history

async def main():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "probe.message", "n": 1})
    received = await layer.receive(channel)
    offset = await get_history().append("probe-room", "body")
    return received["n"], offset

n, offset = asyncio.run(main())
caches["throttle"].set("probe", 7)
print(json.dumps({"layer": n, "offset": offset, "cache": caches["throttle"].get("probe")}))
"""


def test_sentinels_are_parsed_from_host_port_pairs():
    assert parse_sentinels("") == []
    assert parse_sentinels(" 10.0.0.1:26379, [::1]:26380 ,") == [("10.0.0.1", 26379),
                                                                  ("::1", 26380)]


@pytest.mark.parametrize("value", ["10.0.0.1", "10.0.0.1:", ":26379", "host:port",
                                   "host:0", "host:70000"])
def test_a_bad_sentinel_address_is_refused_naming_the_setting(value):
    with pytest.raises(SentinelConfigError, match="REDIS_SENTINELS"):
        parse_sentinels(value)


def test_a_bad_sentinels_setting_stops_the_server_with_the_variable_named():
    result = run_python(["-c", "import vendhub.asgi"], DEBUG="1", REDIS_SENTINELS="redis-1")
    assert result.returncode != 0
    assert "REDIS_SENTINELS: 'redis-1' is not host:port" in result.stderr


def layer_settings(**env: str) -> dict:
    result = run_python(["-c", "import django; django.setup()\n" + LAYER_PROBE], DEBUG="1",
                        **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_sentinel_settings_configure_the_layer_and_the_throttle_cache():
    probe = layer_settings(REDIS_SENTINELS="10.0.0.1:26379,10.0.0.2:26379",
                           REDIS_SENTINEL_MASTER="fleet", REDIS_URL="redis://:s3cret@x/3")
    host = probe["host"]
    assert host["master_name"] == "fleet"
    assert host["sentinels"] == [["10.0.0.1", 26379], ["10.0.0.2", 26379]]
    assert (host["db"], host["password"]) == (3, "s3cret")
    assert "address" not in host  # never a fixed server
    assert probe["throttle_pool"] == "vendhub.redis_sentinel.SentinelCachePool"


def test_sentinels_without_redis_url_use_database_0_of_the_default_master_name():
    probe = layer_settings(REDIS_SENTINELS="127.0.0.1:26379")
    assert probe["redis_url"] == "redis://sentinel/0"
    assert probe["host"]["master_name"] == "vendhub"


def test_without_sentinels_the_layer_names_redis_url():
    probe = layer_settings(REDIS_URL="redis://127.0.0.1:6379/5")
    assert probe["host"]["address"] == "redis://127.0.0.1:6379/5"
    assert probe["throttle_pool"] is None


@pytest.fixture
def sentinel_set(tmp_path):
    require_cluster_binaries()
    redis = RedisSentinelSet(tmp_path, down_after_ms=1000).start()
    yield redis
    redis.stop()


def live_probe(redis: RedisSentinelSet) -> dict:
    result = run_python(["-c", LIVE_PROBE], DEBUG="1", REDIS_SENTINELS=redis.sentinels_setting,
                        REDIS_SENTINEL_MASTER=MASTER_NAME, REDIS_URL="redis://sentinel/0",
                        CHANNEL_LAYER_PREFIX="sentinelprobe")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_every_redis_client_follows_the_master_the_sentinels_promote(sentinel_set):
    first = live_probe(sentinel_set)
    assert (first["layer"], first["cache"]) == (1, 7)
    master = client(sentinel_set.master_port)
    assert master.xlen("sentinelprobe:rt:history") == 1

    sentinel_set.server_on(sentinel_set.master_port).signal(signal.SIGKILL)
    deadline = time.monotonic() + 30
    while sentinel_set.master_address()[1] != sentinel_set.replica_port:
        assert time.monotonic() < deadline, "the sentinels promoted no replica in 30 s"
        time.sleep(0.2)

    second = live_probe(sentinel_set)
    assert (second["layer"], second["cache"]) == (1, 7)
    promoted = client(sentinel_set.replica_port)
    # The entry written before the failover was replicated; the new one went to the new master.
    assert promoted.xlen("sentinelprobe:rt:history") == 2
    assert stream_id(second["offset"]) > stream_id(first["offset"])


def stream_id(offset: str) -> tuple[int, int]:
    milliseconds, _, sequence = offset.partition("-")
    return int(milliseconds), int(sequence)
