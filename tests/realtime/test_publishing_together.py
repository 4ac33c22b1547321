"""`broadcast.publishing_together()`: events published from sync code inside the block reach
the channel layer when it ends, not before, each room's in the order published; an event
published outside any block still leaves at once.

The tests run on one event loop (the in-memory layer's queues belong to the loop that made
them); the sync publishing runs in a worker thread, whose `async_to_sync` comes back to it,
as in the MQTT ingestion worker."""

from __future__ import annotations

import asyncio

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer

from realtime import broadcast
from realtime.rooms import group_name

ROOMS = ("machine:together-a", "machine:together-b")


async def listen() -> str:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    for room in ROOMS:
        await layer.group_add(group_name(room), channel)
    return channel


async def received(channel: str, timeout: float = 0.3) -> list[tuple[str, str]]:
    got = []
    while True:
        try:
            message = await asyncio.wait_for(get_channel_layer().receive(channel), timeout)
        except TimeoutError:
            return got
        got.append((message["room"], message["event"]))


def in_thread(fn):
    return sync_to_async(fn, thread_sensitive=False)()


async def test_events_leave_when_the_block_ends_in_order_per_room():
    channel = await listen()
    a, b = ROOMS

    def publish_some() -> list:
        with broadcast.publishing_together():
            broadcast.publish_rollback_unsafe(a, "first", {"n": 1})
            broadcast.publish_rollback_unsafe(b, "other", {"n": 2})
            with broadcast.publishing_together():  # a block inside adds to the outer one
                broadcast.publish_rollback_unsafe(a, "second", {"n": 3})
            before_the_end = async_to_sync(received)(channel)
            broadcast.publish_rollback_unsafe(a, "third", {"n": 4})
        return before_the_end

    assert await in_thread(publish_some) == []
    got = await received(channel, timeout=2)
    assert [event for room, event in got if room == a] == ["first", "second", "third"]
    assert [event for room, event in got if room == b] == ["other"]

    await in_thread(lambda: broadcast.publish_rollback_unsafe(b, "alone", {}))
    assert await received(channel, timeout=2) == [(b, "alone")]


async def test_what_was_published_leaves_even_if_the_block_fails():
    channel = await listen()

    def fail_after_publishing() -> None:
        with broadcast.publishing_together():
            broadcast.publish_rollback_unsafe(ROOMS[0], "committed", {})
            raise RuntimeError("the batch failed after this was committed")

    try:
        await in_thread(fail_after_publishing)
    except RuntimeError:
        pass
    assert await received(channel, timeout=2) == [(ROOMS[0], "committed")]
