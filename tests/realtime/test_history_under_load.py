"""The Redis recovery history under a reconnect storm: connects wait for a connection of
the bounded pool instead of failing (they used to log MaxConnectionsError by hundreds)."""

from __future__ import annotations

import asyncio

import pytest

from realtime.server.history import RedisEventHistory


@pytest.mark.redis
async def test_more_concurrent_reads_than_pooled_connections_all_succeed(redis_url):
    history = RedisEventHistory(redis_url, key="test-history-under-load")
    try:
        offset = await history.append("machine:x", '["machine:status",{}]')
        heads = await asyncio.gather(*(history.head() for _ in range(400)))
        assert set(heads) == {offset}
        assert history.redis.connection_pool.max_connections == 64
    finally:
        await history.redis.delete("test-history-under-load")
        await history.aclose()
