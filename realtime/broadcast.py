"""The one door for server events: every producer publishes through this module.

`publish()` runs after the current transaction commits, so clients never see data that
rolls back (and runs at once outside a transaction). `publish_rollback_unsafe()` sends
immediately; its name is meant to stand out in review. `apublish()` is the async variant.
Inside `publishing_together()` the sync calls are held and sent together when the block
ends, in one hop to the event loop (a batch of many machines' readings sends an event or
two per machine: a hop each was ~7 % of the MQTT worker's time in a profile of one-reading
messages).

The event is encoded once here, as a complete Engine.IO frame; each receiving process hands
that same string to its local sockets (realtime/server/hub.py). With connection state recovery on,
the event is appended to the history first (realtime/server/history.py) and the frame carries its
offset as the last argument, as Socket.IO >= 4.6 does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from redis.exceptions import RedisError

from .rooms import group_name
from .server import metrics
from .server.conf import realtime_config
from .server.history import frame_with_offset, get_history
from .server.hub import CONTROL_GROUP, CONTROL_MESSAGE_TYPE, FRAME_MESSAGE_TYPE
from .server.protocol.socketio import encode_event

logger = logging.getLogger(__name__)


def encode_body(event: str, payload: Any) -> str:
    """The compact JSON array `[event, payload]` of a Socket.IO EVENT on the main namespace."""
    parts = encode_event("/", event, payload)
    if len(parts) != 1:
        raise ValueError("broadcast events carry JSON only, not binary attachments")
    return parts[0][1:]


async def _record(room: str, event: str, body: str) -> str | None:
    """Append the event to the recovery history; its offset, or None when the history is
    unavailable (the event is then delivered live without an offset, and a client that
    misses it cannot get it back)."""
    try:
        return await get_history().append(room, body)
    except Exception as exc:
        metrics.messages_dropped.labels(reason=metrics.DROP_HISTORY_FAILURE).inc()
        logger.error("could not record %s to %s in the recovery history, delivering it "
                     "without an offset: %s: %s", event, room, type(exc).__name__, exc)
        return None


async def _message(room: str, event: str, payload: Any) -> tuple[str, dict]:
    body = encode_body(event, payload)
    offset = await _record(room, event, body) if realtime_config().recovery else None
    return group_name(room), {
        "type": FRAME_MESSAGE_TYPE,
        "room": room,
        "frame": frame_with_offset(body, offset) if offset else "42" + body,
        "offset": offset,
        "event": event,  # metrics per event, and live-map coalescing in the hub
    }


async def apublish(room: str, event: str, payload: Any) -> None:
    """Send `event` to `room` now, from async code. With connection state recovery on, the
    event is first appended to the history, and its offset is its last argument."""
    group, message = await _message(room, event, payload)
    try:
        await get_channel_layer().group_send(group, message)
    except Exception as exc:
        # The data is already committed; clients resync on reconnect. Log, never raise
        # into the producer (a telemetry request must not fail because Redis blinked).
        metrics.messages_dropped.labels(reason=metrics.DROP_PUBLISH_FAILURE).inc()
        if isinstance(exc, (ConnectionError, OSError, RedisError)):
            # Redis down is an expected outage: one line per event, no traceback.
            logger.error("could not publish %s to %s: %s: %s", event, room,
                         type(exc).__name__, exc)
        else:
            logger.exception("could not publish %s to %s", event, room)
    else:
        metrics.events_emitted.labels(event=event).inc()


#: The events held by the innermost `publishing_together()` block (None: send at once).
_held: ContextVar[list[tuple[str, str, Any]] | None] = ContextVar("broadcast_held",
                                                                    default=None)


def publish_rollback_unsafe(room: str, event: str, payload: Any) -> None:
    """Send `event` to `room` immediately, from sync code, even inside a transaction (at the
    end of the enclosing `publishing_together()` block, if any)."""
    held = _held.get()
    if held is not None:
        held.append((room, event, payload))
        return
    async_to_sync(apublish)(room, event, payload)


@contextmanager
def publishing_together() -> Iterator[None]:
    """Hold the events published from sync code in this block and send them when it ends
    (even by an exception: what was published was committed), in one hop to the event loop.
    Events of one room keep their order; rooms are sent concurrently. A block inside
    another adds to the outer one's."""
    if _held.get() is not None:
        yield
        return
    held: list[tuple[str, str, Any]] = []
    token = _held.set(held)
    try:
        yield
    finally:
        _held.reset(token)
        if held:
            async_to_sync(_apublish_all)(held)


#: Rooms sent at once by `publishing_together`: a few round trips in flight hide Redis's
#: latency; hundreds would exhaust the channel layer's connection pool (MaxConnectionsError).
_ROOMS_AT_ONCE = 8


async def _apublish_all(items: list[tuple[str, str, Any]]) -> None:
    by_room: dict[str, list[tuple[str, Any]]] = {}
    for room, event, payload in items:
        by_room.setdefault(room, []).append((event, payload))
    turns = asyncio.Semaphore(_ROOMS_AT_ONCE)

    async def in_order(room: str, room_items: list[tuple[str, Any]]) -> None:
        async with turns:
            for event, payload in room_items:
                await apublish(room, event, payload)

    await asyncio.gather(*(in_order(room, room_items) for room, room_items in by_room.items()))


def publish(room: str, event: str, payload: Any) -> None:
    """Send `event` to `room` once the current transaction commits (now if there is none)."""
    transaction.on_commit(partial(publish_rollback_unsafe, room, event, payload))


async def apublish_control(kind: str, data: Any) -> None:
    """Send a control message to every server process now (realtime/server/hub.py `on_control`).
    A failure is logged, never raised: the change it announces is committed already."""
    try:
        await get_channel_layer().group_send(
            CONTROL_GROUP, {"type": CONTROL_MESSAGE_TYPE, "kind": kind, "data": data})
    except Exception as exc:
        metrics.messages_dropped.labels(reason=metrics.DROP_PUBLISH_FAILURE).inc()
        logger.error("could not send control message %s to the server processes: %s: %s",
                     kind, type(exc).__name__, exc)


def publish_control(kind: str, data: Any) -> None:
    """`apublish_control` once the current transaction commits (now if there is none)."""
    transaction.on_commit(partial(async_to_sync(apublish_control), kind, data))
