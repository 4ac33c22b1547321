"""Coalescing one event per key in the rooms of one prefix, flushed every tick (generic
layer: the product declares what to coalesce as `CoalescedEvent` specs given to the hub).

An event published often for the same thing (a status of one of thousands of sources) would
otherwise reach every member of the room each time: the hub hands such a frame to
`StatusCoalescer`, which keeps the latest payload of each key until the tick, then delivers
to the room's members that joined it `batched` one batch event (encoded once for all of
them, carrying the newest recovery offset of its entries), and to the other members each
key's latest frame as it was published, so a client that listens for the single event still
gets one per key and tick. Which fields a batch entry copies is part of the spec.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Protocol

import orjson

from .history import is_offset, parse_offset
from .protocol.socketio import encode_event

logger = logging.getLogger(__name__)


def encode_main_event(event: str, *args) -> str:
    """The Engine.IO text frame of a Socket.IO EVENT on the main namespace."""
    (part,) = encode_event("/", event, *args)
    return "4" + part


@dataclass(frozen=True)
class CoalescedEvent:
    """What the hub coalesces: frames of `event` in rooms named `room_prefix`..., one per
    value of the payload's `key` and tick, batched as `batch_event` for members that join
    `batched`. A batch entry copies `key`, `fields` (a payload without one of them is not an
    update of this kind and is delivered as it is) and `optional_fields` (None if absent).
    `name` finds the coalescer on the hub (`Hub.coalescers[name]`)."""

    name: str
    room_prefix: str
    event: str
    batch_event: str
    key: str
    fields: tuple[str, ...]
    optional_fields: tuple[str, ...] = ()


class Member(Protocol):
    def deliver(self, frame: str) -> bool: ...


class Hub(Protocol):
    """What a coalescer needs of the hub (`realtime.server.hub.Hub`): typed as a protocol so that
    this module does not import the hub module, which imports it."""

    members: Mapping[str, Collection[Member]]

    def deliver(self, room: str, members: tuple[Member, ...], frame: str, event: str) -> int: ...


class StatusCoalescer:
    def __init__(self, hub: Hub, spec: CoalescedEvent, *, tick_seconds: float) -> None:
        self.hub = hub
        self.spec = spec
        #: What a batch entry copies from the payload besides `key` (see CoalescedEvent).
        self.key = spec.key
        self.fields = spec.fields
        self.optional_fields = spec.optional_fields
        self.tick = tick_seconds
        self.room_prefix = spec.room_prefix
        self.event = spec.event
        self.batch_event = spec.batch_event
        #: Updates waiting for the next tick: room -> key -> (batch entry, frame as published).
        self._pending: dict[str, dict[str, tuple[dict, str]]] = {}
        #: The newest recovery offset among a room's pending entries.
        self._pending_offset: dict[str, str] = {}
        #: Members of a room that take its updates as batches.
        self._batched: dict[str, set[Member]] = {}
        self._flush_handle: asyncio.TimerHandle | None = None
        #: Updates replaced by a newer one of the same key within a tick.
        self.coalesced = 0

    def takes(self, room: str, event: str) -> bool:
        """Whether a frame of `event` in `room` waits for the tick (a zero tick: never)."""
        return event == self.event and self.tick > 0 and room.startswith(self.room_prefix)

    def want_batches(self, member: Member, room: str) -> None:
        self._batched.setdefault(room, set()).add(member)

    def forget(self, member: Member, room: str) -> None:
        batched = self._batched.get(room)
        if batched is not None:
            batched.discard(member)
            if not batched:
                del self._batched[room]

    def pending_count(self) -> int:
        return sum(len(updates) for updates in self._pending.values())

    def stop(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None

    def offer(self, room: str, message: dict) -> bool:
        """Keep the latest update of the message's key for the next flush; False when the
        frame is not an update of this kind (the hub then delivers it as it is)."""
        try:
            _event, payload, *rest = orjson.loads(message["frame"][2:])
            entry = {self.key: payload[self.key],
                     **{name: payload[name] for name in self.fields},
                     **{name: payload.get(name) for name in self.optional_fields}}
        except (orjson.JSONDecodeError, ValueError, TypeError, KeyError, AttributeError):
            return False
        pending = self._pending.setdefault(room, {})
        if entry[self.key] in pending:
            self.coalesced += 1
        pending[entry[self.key]] = (entry, message["frame"])
        offset = message.get("offset") or (rest[-1] if rest else None)
        if is_offset(offset):
            newest = self._pending_offset.get(room)
            if newest is None or parse_offset(offset) > parse_offset(newest):
                self._pending_offset[room] = offset
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_later(self.tick, self.flush)
        return True

    def flush(self) -> None:
        """Deliver the updates of the tick (see the module docstring)."""
        self._flush_handle = None
        pending, self._pending = self._pending, {}
        offsets, self._pending_offset = self._pending_offset, {}
        for room, updates in pending.items():
            members = self.hub.members.get(room)
            if not members:
                continue
            batched = self._batched.get(room, ())
            try:
                if batched:
                    args = [[entry for entry, _frame in updates.values()]]
                    if room in offsets:
                        args.append(offsets[room])
                    self.hub.deliver(room, tuple(batched),
                                     encode_main_event(self.batch_event, *args),
                                     self.batch_event)
                singles = tuple(m for m in members if m not in batched)
                for _entry, frame in updates.values() if singles else ():
                    self.hub.deliver(room, singles, frame, self.event)
            except Exception:  # one bad room must not cost the others their updates
                logger.exception("hub could not flush the updates of room %s", room)
