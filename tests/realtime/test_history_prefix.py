"""The recovery history and the parked sessions live under the deployment's Redis key prefix
(`CHANNEL_LAYER_PREFIX`), like the channel layer's keys: two deployments sharing one Redis
see neither each other's events nor each other's sessions."""

from __future__ import annotations

import uuid

import pytest
import redis.asyncio as redis

from realtime.server.history import RedisEventHistory, get_history

pytestmark = pytest.mark.redis


async def test_two_deployments_on_one_redis_do_not_see_each_others_history_or_sessions(
    redis_url,
):
    run = uuid.uuid4().hex
    first = RedisEventHistory(redis_url, prefix=f"deploy-a-{run}")
    second = RedisEventHistory(redis_url, prefix=f"deploy-b-{run}")
    client = redis.from_url(redis_url)
    try:
        offset = await first.append("org:1", '["inventory:low",{"machineId":1}]')
        assert [e.offset for e in await first.since("0-0", ["org:1"])] == [offset]
        assert await second.since("0-0", ["org:1"]) == []
        assert await second.head() == "0-0"

        await first.save_session("pid-1", {"sid": "s1", "base": offset}, 60)
        assert await second.take_session("pid-1") is None
        assert await first.take_session("pid-1") == {"sid": "s1", "base": offset}

        assert await client.exists(f"deploy-a-{run}:rt:history") == 1
        assert await client.exists(f"deploy-b-{run}:rt:history") == 0
    finally:
        await client.delete(f"deploy-a-{run}:rt:history")
        await client.aclose()
        await first.aclose()
        await second.aclose()


async def test_the_servers_history_takes_the_channel_layer_prefix(redis_url, settings):
    prefix = f"deploy-{uuid.uuid4().hex}"
    settings.REDIS_URL = redis_url
    settings.CHANNEL_LAYERS = {"default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [redis_url], "prefix": prefix},
    }}
    history = get_history()
    assert isinstance(history, RedisEventHistory)
    assert history.key == f"{prefix}:rt:history"
    assert history.session_key("p") == f"{prefix}:rt:session:p"
