"""A message channels_redis drops at capacity is counted and logged, never silent."""

from __future__ import annotations

import logging

import pytest
from channels_redis.core import RedisChannelLayer

from realtime.server import metrics


def dropped_channel_full() -> float:
    return metrics.messages_dropped.labels(reason=metrics.DROP_CHANNEL_FULL)._value.get()


@pytest.mark.redis
async def test_group_send_over_capacity_counts_each_lost_message(redis_url, caplog):
    layer = RedisChannelLayer(hosts=[redis_url], capacity=1, prefix="test-channel-full")
    channel = await layer.new_channel("rt.process.")
    await layer.group_add("full-room", channel)
    try:
        before = dropped_channel_full()
        with caplog.at_level(logging.INFO, logger="channels_redis.core"):
            for n in range(3):  # nobody receives: the first fits, the next two are lost
                await layer.group_send("full-room", {"type": "rt.frame", "n": n})
        assert dropped_channel_full() - before == 2
        warnings = [r for r in caplog.records
                    if r.name == "channels_redis.core" and r.levelno == logging.WARNING]
        assert len(warnings) == 2 and "over capacity" in warnings[0].getMessage()
        assert (await layer.receive(channel))["n"] == 0
    finally:
        await layer.group_discard("full-room", channel)
        await layer.flush()


def test_the_counter_is_installed_once_and_passes_other_records_by_level():
    logger = logging.getLogger("channels_redis.core")
    metrics.count_channel_layer_drops()
    counters = [f for f in logger.filters if isinstance(f, metrics.ChannelFullCounter)]
    assert len(counters) == 1
    counter = counters[0]
    record = logging.LogRecord("channels_redis.core", logging.INFO, __file__, 1,
                               "Creating tcp connection to %s", ("x",), None)
    assert counter.filter(record) is (logging.INFO >= counter.level)


def test_drops_at_capacity_are_a_known_series_from_the_start():
    samples = {s.labels.get("reason") for m in metrics.REGISTRY.collect()
               for s in m.samples if s.name == "vendhub_realtime_messages_dropped_total"}
    assert metrics.DROP_CHANNEL_FULL in samples
