"""Per-process room membership and fan-out (generic layer: the product gives the hub its
room → channel-layer group naming and the events it coalesces, see `set_hub_factory`).

Rooms are a data structure; the channel layer is only the cross-process transport. Each
server process listens on ONE channel-layer channel and adds it to the group of every room
that has at least one local member. A published event travels once per process (already
encoded as an Engine.IO frame), and the hub hands the same frame to each local member.
This replaces the textbook "one channel, one queue and one msgpack decode per consumer"
path, which costs ~35x in fan-out (README, Benchmarks).

The events a product declares coalesced (`CoalescedEvent`, e.g. a status per source) are
kept per key and flushed every tick, so a flapping source cannot flood a client. At the flush
a member that joined the room `batched` gets one batch event per room, encoded once (its
frame rate does not grow with the number of sources), and any other member gets each key's
latest frame as it was published (realtime/server/coalescing.py).

A process stays in a room's group for `REALTIME["ROOM_LINGER_MS"]` after the room's last
local member left: the member of a reloaded page or of a reconnect storm is back within
seconds, and rejoins without the two Redis round trips of leaving and joining the group
again (~0.4 ms of a reconnect's ~1.8 ms of CPU, measured with bench/). Events of a
lingering room reach the process and find no member: they cost a dictionary lookup.

Besides rooms, every process's channel is in one control group: a control message
(the product's publisher sends it to CONTROL_GROUP) reaches each process once, and the hub hands
it to the handler the application registered for its kind (`on_control`): how a change
that concerns open sockets anywhere (a membership revoked) reaches every process.

A hub that falls behind (the next event already waits in the channel layer when it has
delivered the previous one) holds the frames of a few consecutive events and writes each
socket's frames with one call (realtime/server/engine/batch.py): a socket's write system call
was ~3/4 of a delivered frame's CPU, and a burst then costs a fraction of it per event.

When the channel layer fails (Redis down), the listener retries with backoff; once Redis
answers again it re-adds the groups of every local room (a restarted Redis forgot them)
and sends `resync` to every local socket, since events published meanwhile were lost.

Longer than the project's ~400 lines on purpose: membership, lingering groups, the
listener and its outage recovery all guard the same room → group table under one lock, so
they stay in one class.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from channels.layers import get_channel_layer

from . import metrics
from .coalescing import CoalescedEvent, StatusCoalescer, encode_main_event
from .conf import RealtimeConfig, realtime_config
from .engine.batch import Filling, WriteBatch

logger = logging.getLogger(__name__)

FRAME_MESSAGE_TYPE = "rt.frame"
#: Control messages: `{"type": CONTROL_MESSAGE_TYPE, "kind": …, "data": …}`, sent to the
#: group that every process's channel is in.
CONTROL_MESSAGE_TYPE = "rt.control"
CONTROL_GROUP = "rt.control"
#: channels_redis forgets group membership after `group_expiry` (default one day); re-add
#: every local room well before that.
GROUP_REFRESH_SECONDS = 3600
RESYNC_EVENT = "resync"
#: Longest wait between two attempts to reach a failing channel layer. It adds to every
#: outage's gap (after a Sentinel failover, the promoted master waits up to this long for
#: the next attempt), and an attempt against an unreachable Redis costs one failed connect.
MAX_BACKOFF_SECONDS = 1.0
#: A harmless command that fails while Redis is unreachable (a group nobody joins).
_PROBE_GROUP = "rt.hub.probe"


class Member(Protocol):
    def deliver(self, frame: str) -> bool:
        """Queue an encoded Engine.IO text frame for this client; must not block. Returns
        False when the frame is dropped (the client is closed, or too slow)."""


class OnlyMember:
    """The local members of a room that has one: what most user and task rooms have, one
    per connected user. Reads like a set of one member (`len`, iteration, `in`) for a
    fifth of a set's memory (idle memory per connection)."""

    __slots__ = ("member",)

    def __init__(self, member: Member) -> None:
        self.member = member

    def __len__(self) -> int:
        return 1

    def __iter__(self):
        return iter((self.member,))

    def __contains__(self, member: object) -> bool:
        return member == self.member


class Hub:
    def __init__(self, layer, *, group_name: Callable[[str], str],
                 coalesced: Iterable[CoalescedEvent] = (), tick_ms: int = 1000,
                 room_linger_ms: int = 0, write_batch_events: int = 1,
                 write_batch_hold_ms: float = 0.0) -> None:
        """`group_name`: the channel-layer group of a room name (the product's naming: it
        must be a valid Channels group name, and the publisher must use the same one).
        `coalesced`: the events kept per key and flushed every `tick_ms` (0: never held).
        `write_batch_events`, `write_batch_hold_ms`: write batching when the layer holds a
        backlog (engine/batch.py; 1 event: none)."""
        self.layer = layer
        self.write_batch_events = write_batch_events
        self.write_batch_hold = write_batch_hold_ms / 1000
        #: Frames held for one write per socket (engine/batch.py), on the listener's loop.
        self._batch: WriteBatch | None = None
        #: Events dispatched in write batches, and batches written (health page, tests).
        self.batched_events = 0
        self.write_batches = 0
        #: How long the latest dispatch outside a batch took: a hub that waits less than
        #: that for its next message is busier delivering than waiting.
        self._last_dispatch = 0.0
        self.group_name = group_name
        #: The coalescer of each spec by its name; updates wait in them for the next tick.
        self.coalescers: dict[str, StatusCoalescer] = {
            spec.name: StatusCoalescer(self, spec, tick_seconds=tick_ms / 1000)
            for spec in coalesced}
        self._coalescers = tuple(self.coalescers.values())
        self.room_linger = room_linger_ms / 1000
        #: Rooms without local members whose group the process is still in, with the loop
        #: time at which it leaves it (insertion order is deadline order).
        self._lingering: dict[str, float] = {}
        self._linger_sweeper: asyncio.Task | None = None
        #: Local members by room: an OnlyMember until a second one joins.
        self.members: dict[str, set[Member] | OnlyMember] = {}
        self.channel_name: str | None = None
        self._listener: asyncio.Task | None = None
        self._refresher: asyncio.Task | None = None
        self._group_lock = asyncio.Lock()
        self._start_lock = asyncio.Lock()
        #: Handlers of control messages by kind (`on_control`).
        self._control_handlers: dict[str, Callable[[object], None]] = {}
        self._in_control_group = False
        # Counters of this process. A frame that does not reach a member is never dropped
        # silently: it is counted here and logged.
        self.delivered = 0
        #: Frames not queued for a member: its connection was closed or too slow.
        self.dropped_slow_client = 0
        #: Failed `receive()` calls on the channel layer (messages may have been lost).
        self.receive_failures = 0
        #: Channel-layer messages of an unknown type.
        self.ignored_messages = 0
        #: Times the channel layer answered again after failures (each sent `resync`).
        self.layer_recoveries = 0

    def on_control(self, kind: str, handler: Callable[[object], None]) -> None:
        """Call `handler(data)` for each control message of `kind` (on this process's loop;
        a handler that needs I/O starts its own task)."""
        self._control_handlers[kind] = handler

    async def start(self) -> None:
        """Listen on the process's channel, and join the control group (retried by the
        next call when Redis refused it)."""
        if self._in_control_group:  # the common case: no lock round trip per connect
            return
        # Under a lock: two first joins at once must not create two process channels.
        async with self._start_lock:
            if self._listener is None:
                self.channel_name = await self.layer.new_channel("rt.process.")
                # The listener is started before any group is joined: with channels_redis,
                # a listener started after a group_add on the same loop could not be
                # cancelled any more (seen as a hang when the loop closed).
                self._listener = asyncio.create_task(self._listen(),
                                                     name="realtime-hub-listener")
                self._refresher = asyncio.create_task(self._refresh_groups(),
                                                      name="realtime-hub-refresh")
            if not self._in_control_group:
                await self.layer.group_add(CONTROL_GROUP, self.channel_name)
                self._in_control_group = True

    async def stop(self) -> None:
        for task in (self._listener, self._refresher, self._linger_sweeper):
            if task is not None:
                task.cancel()
        self._listener = self._refresher = self._linger_sweeper = None
        self._in_control_group = False
        for coalescer in self._coalescers:
            coalescer.stop()

    async def join(self, member: Member, room: str, *, batched: bool = False) -> None:
        """`batched`: take the room's coalesced updates as one batch event per tick instead
        of one event per key."""
        await self.start()
        if batched:
            for coalescer in self._coalescers:
                coalescer.want_batches(member, room)
        local = self.members.get(room)
        if local is not None:  # the process is in the room already
            if isinstance(local, OnlyMember):
                if member != local.member:
                    self.members[room] = {local.member, member}
            else:
                local.add(member)
            return
        self.members[room] = OnlyMember(member)
        metrics.rooms.inc()
        if self._lingering.pop(room, None) is not None:
            return  # still in the group
        try:
            async with self._group_lock:
                await self.layer.group_add(self.group_name(room), self.channel_name)
        except BaseException:
            # Not in the group: forget the member, or the next join would skip group_add
            # and the room would never receive another process's events.
            if self._forget(member, room):
                metrics.rooms.dec()
            raise

    async def leave(self, member: Member, room: str) -> None:
        if not self._forget(member, room):
            return
        metrics.rooms.dec()
        if self.room_linger > 0:
            self._lingering[room] = asyncio.get_running_loop().time() + self.room_linger
            if self._linger_sweeper is None:
                self._linger_sweeper = asyncio.create_task(
                    self._leave_lingering_groups(), name="realtime-hub-linger")
            return
        async with self._group_lock:
            if room not in self.members:
                await self.layer.group_discard(self.group_name(room), self.channel_name)

    async def _leave_lingering_groups(self) -> None:
        """Leave the group of each lingering room once its time is up (unless a member came
        back meanwhile: `join` takes it off the list)."""
        loop = asyncio.get_running_loop()
        try:
            while self._lingering:
                room, deadline = next(iter(self._lingering.items()))
                if deadline > loop.time():
                    await asyncio.sleep(deadline - loop.time())
                    continue
                del self._lingering[room]
                try:
                    async with self._group_lock:
                        if room not in self.members and room not in self._lingering:
                            await self.layer.group_discard(self.group_name(room), self.channel_name)
                except Exception as exc:  # Redis down: the group expires on its own
                    logger.warning("could not leave the group of room %s: %s", room,
                                   _describe(exc))
        finally:
            self._linger_sweeper = None

    def _forget(self, member: Member, room: str) -> bool:
        """Take `member` out of `room`; True when that left the room without local members
        (the room is then forgotten)."""
        local = self.members.get(room)
        if local is None or member not in local:
            return False
        for coalescer in self._coalescers:
            coalescer.forget(member, room)
        if not isinstance(local, OnlyMember):
            local.discard(member)
            if local:
                return False
        del self.members[room]
        return True

    async def publish(self, room: str, frame: str, event: str = "") -> None:
        """Send an encoded frame to every member of `room`, in every process."""
        await self.layer.group_send(
            self.group_name(room),
            {"type": FRAME_MESSAGE_TYPE, "room": room, "frame": frame, "event": event},
        )

    def counters(self) -> dict[str, int]:
        return {
            "delivered": self.delivered,
            "dropped_slow_client": self.dropped_slow_client,
            "receive_failures": self.receive_failures,
            "ignored_messages": self.ignored_messages,
        }

    def stats(self) -> dict[str, int]:
        """`counters()` plus the hub's current state, for the admin health page."""
        return {
            **self.counters(),
            "rooms": len(self.members),
            "lingering_rooms": len(self._lingering),
            "memberships": sum(len(local) for local in self.members.values()),
            "coalesced": sum(c.coalesced for c in self._coalescers),
            "pending_map_updates": sum(c.pending_count() for c in self._coalescers),
            "layer_recoveries": self.layer_recoveries,
        }

    def dispatch(self, message: dict) -> None:
        """Handle one frame message of the channel layer: deliver it now, or keep a
        coalesced update for the next tick."""
        room, event = message["room"], message.get("event", "")
        for coalescer in self._coalescers:
            if coalescer.takes(room, event):
                if room not in self.members:
                    return
                if coalescer.offer(room, message):
                    return
                break
        self.deliver_local(room, message["frame"], event)

    def deliver_local(self, room: str, frame: str, event: str = "") -> int:
        """Hand `frame` to the local members of `room`; returns how many queued it."""
        members = self.members.get(room)
        if not members:
            return 0
        return self.deliver(room, tuple(members), frame, event)

    def deliver(self, room: str, members: tuple[Member, ...], frame: str, event: str) -> int:
        """Hand `frame` to `members` (of `room`), counting and logging what they drop."""
        delivered = 0
        for member in members:
            if member.deliver(frame):
                delivered += 1
        dropped = len(members) - delivered
        self.delivered += delivered
        metrics.frames_delivered.labels(event=event or "unknown").inc(delivered)
        if dropped:
            self.dropped_slow_client += dropped
            metrics.messages_dropped.labels(reason=metrics.DROP_SLOW_CLIENT).inc(dropped)
            logger.warning("hub dropped a frame of room %s for %d slow or closed client(s) "
                           "(%d dropped in this process)", room, dropped,
                           self.dropped_slow_client)
        return delivered

    async def _listen(self) -> None:
        backoff = 0.1
        failing = False
        while True:
            if failing:
                # Is the layer back? Re-add the groups first: a restarted Redis forgot them.
                try:
                    await self._rejoin_groups()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    logger.warning("channel layer still unreachable (%s); retrying in %.1fs",
                                   _describe(exc), backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                    continue
                failing, backoff = False, 0.1
                self._recovered()
            try:
                message, waited = await self._receive()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down: keep serving local clients, retry.
                self.receive_failures += 1
                metrics.messages_dropped.labels(reason=metrics.DROP_RECEIVE_FAILURE).inc()
                # An outage is expected operation: one line, no traceback.
                logger.error("channel layer receive failed (%d failures in this process): %s; "
                             "events may have been lost; retrying in %.1fs",
                             self.receive_failures, _describe(exc), backoff)
                failing = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            if message.get("type") == FRAME_MESSAGE_TYPE:
                try:
                    self._dispatch_received(message, waited)
                except Exception:  # never let one bad message end the process's listener
                    self.ignored_messages += 1
                    logger.exception("hub could not deliver a message to room %r",
                                     message.get("room"))
            elif message.get("type") == CONTROL_MESSAGE_TYPE:
                self.control(message)
            else:
                self.ignored_messages += 1
                logger.warning("hub ignored a message of type %r", message.get("type"))

    # -- write batching (engine/batch.py) ------------------------------------------------

    #: A receive that answered sooner than this found the message already waiting in the
    #: channel layer: the hub is behind. Under load a receive of a waiting message takes
    #: 0.5-2 ms here (a Redis round trip behind the loop's other work), hence also the
    #: comparison with the previous dispatch's duration.
    BACKLOG_SECONDS = 0.001

    async def _receive(self) -> tuple[dict, float]:
        """The next message of the process channel, and how long it was waited for. While
        frames are held for a batch, the wait is bounded by what is left of the hold: the
        batch is written first if nothing comes by then."""
        loop = asyncio.get_running_loop()
        batch = self._batch
        if not batch:
            started = loop.time()
            message = await self.layer.receive(self.channel_name)
            return message, loop.time() - started
        receiving = asyncio.ensure_future(self.layer.receive(self.channel_name))
        try:
            left = batch.started + self.write_batch_hold - loop.time()
            if left > 0:
                await asyncio.wait((receiving,), timeout=left)
            if receiving.done():
                return receiving.result(), 0.0
            self._write_batch()
            written = loop.time()
            message = await receiving
            return message, loop.time() - written
        except BaseException:
            receiving.cancel()
            self._write_batch()
            raise

    def _dispatch_received(self, message: dict, waited: float) -> None:
        """Dispatch a frame message from the layer: into the write batch when the hub is
        behind (it waited for this message less than it spent delivering the previous one,
        or less than a round trip: the message was already there) or a batch is already
        held; else at once."""
        batch = self._batch
        if self.write_batch_events <= 1 or (
                waited >= max(self.BACKLOG_SECONDS, self._last_dispatch) and not batch):
            loop = asyncio.get_running_loop()
            started = loop.time()
            self.dispatch(message)
            self._last_dispatch = loop.time() - started
            return
        if batch is None:
            batch = self._batch = WriteBatch(asyncio.get_running_loop())
        with Filling(batch):
            self.dispatch(message)
        self.batched_events += 1
        metrics.batched_events.inc()
        if not batch:  # nothing held (no local member took the frame)
            batch.events = 0
        elif batch.events >= self.write_batch_events or (
                batch.loop.time() - batch.started >= self.write_batch_hold):
            self._write_batch()

    def _write_batch(self) -> None:
        if self._batch:
            self.write_batches += 1
            metrics.write_batches.inc()
            self._batch.flush()
        elif self._batch is not None:
            self._batch.events = 0

    def control(self, message: dict) -> None:
        """Hand a control message to the handler of its kind."""
        handler = self._control_handlers.get(message.get("kind"))
        if handler is None:
            self.ignored_messages += 1
            logger.warning("hub ignored a control message of kind %r", message.get("kind"))
            return
        try:
            handler(message.get("data"))
        except Exception:  # never let one bad message end the process's listener
            logger.exception("hub: the handler of control message %r failed",
                             message.get("kind"))

    async def _rejoin_groups(self) -> None:
        async with self._group_lock:
            await self.layer.group_discard(_PROBE_GROUP, self.channel_name)
            await self.layer.group_add(CONTROL_GROUP, self.channel_name)
            # A member coming back to a lingering room must join its group again (a
            # restarted Redis forgot it); leave those Redis still has.
            lingering, self._lingering = list(self._lingering), {}
            for room in lingering:
                await self.layer.group_discard(self.group_name(room), self.channel_name)
            for room in tuple(self.members):
                await self.layer.group_add(self.group_name(room), self.channel_name)

    def _recovered(self) -> None:
        """The layer answers again: tell every local socket to refetch what it may have
        missed (one frame, encoded once)."""
        self.layer_recoveries += 1
        sockets = {member for local in self.members.values() for member in local}
        frame = encode_main_event(RESYNC_EVENT, {"reason": "redis-reconnected"})
        delivered = sum(1 for member in sockets if member.deliver(frame))
        metrics.frames_delivered.labels(event=RESYNC_EVENT).inc(delivered)
        logger.warning("channel layer reachable again: %d room group(s) re-added, resync sent "
                       "to %d socket(s)", len(self.members), delivered)

    async def _refresh_groups(self) -> None:
        while True:
            await asyncio.sleep(GROUP_REFRESH_SECONDS)
            groups = [CONTROL_GROUP] + [self.group_name(room) for room in tuple(self.members)]
            for group in groups:
                try:
                    await self.layer.group_add(group, self.channel_name)
                except Exception:
                    logger.exception("could not refresh group %s", group)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def hub_stats() -> dict[str, int]:
    """`Hub.stats()` summed over the hubs of this process (one per event loop), from any
    thread: the admin health page runs outside the server's loop."""
    totals: dict[str, int] = {}
    for hub in _retry_on_concurrent_change(lambda: list(_hubs.values()), default=[]):
        for key, value in _retry_on_concurrent_change(hub.stats, default={}).items():
            totals[key] = totals.get(key, 0) + value
    return totals


def _retry_on_concurrent_change(read, *, default):
    """`read()`, retried when the loop's thread changed a dict while we iterated it."""
    for _attempt in range(5):
        try:
            return read()
        except RuntimeError:
            continue
    return default


#: Makes the hub of a loop from the channel layer and the server's settings: the product's
#: (its group naming, its coalesced events), registered once at startup.
HubFactory = Callable[[Any, RealtimeConfig], Hub]
_hub_factory: HubFactory | None = None


def set_hub_factory(factory: HubFactory) -> None:
    """Make every hub `get_hub` creates from now on with `factory(layer, config)`."""
    global _hub_factory
    _hub_factory = factory


def get_hub() -> Hub:
    """The hub of the running event loop (one per server process; tests may run several loops)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        if _hub_factory is None:
            raise RuntimeError("no hub factory: the product calls set_hub_factory() at startup")
        hub = _hubs[loop] = _hub_factory(get_channel_layer(), realtime_config())
    return hub
