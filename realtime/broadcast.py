"""The one door for server events: every producer publishes through this module.

`publish()` runs after the current transaction commits, so clients never see data that
rolls back (and runs at once outside a transaction). `publish_rollback_unsafe()` sends
immediately; its name is meant to stand out in review. `apublish()` is the async variant.

The event is encoded once here, as a complete Engine.IO frame; each receiving process hands
that same string to its local sockets (realtime/hub.py).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from redis.exceptions import RedisError

from . import metrics
from .hub import FRAME_MESSAGE_TYPE
from .protocol.socketio import encode_event
from .rooms import group_name

logger = logging.getLogger(__name__)


def encode_frame(event: str, payload: Any) -> str:
    """The Engine.IO text frame of a Socket.IO EVENT on the main namespace."""
    parts = encode_event("/", event, payload)
    if len(parts) != 1:
        raise ValueError("broadcast events carry JSON only, not binary attachments")
    return "4" + parts[0]


def _message(room: str, event: str, payload: Any) -> tuple[str, dict]:
    return group_name(room), {
        "type": FRAME_MESSAGE_TYPE,
        "room": room,
        "frame": encode_frame(event, payload),
        "event": event,  # metrics per event, and live-map coalescing in the hub
    }


async def apublish(room: str, event: str, payload: Any) -> None:
    """Send `event` to `room` now, from async code."""
    group, message = _message(room, event, payload)
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


def publish_rollback_unsafe(room: str, event: str, payload: Any) -> None:
    """Send `event` to `room` immediately, from sync code, even inside a transaction."""
    async_to_sync(apublish)(room, event, payload)


def publish(room: str, event: str, payload: Any) -> None:
    """Send `event` to `room` once the current transaction commits (now if there is none)."""
    transaction.on_commit(partial(publish_rollback_unsafe, room, event, payload))


def publish_many(rooms: list[str], event: str, payload: Any) -> None:
    for room in rooms:
        publish(room, event, payload)
