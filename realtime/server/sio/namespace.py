"""Namespaces and sockets: what application code sees of a Socket.IO connection."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Callable
from typing import Any, Protocol

from ..engine.session import CloseReason, EngineSession
from ..history import frame_offset, parse_offset
from ..hub import get_hub
from ..protocol.socketio import Packet, PacketType, encode_event
from . import records

logger = logging.getLogger(__name__)

#: Event names a client may not send: they are lifecycle events of the socket itself.
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)
_EVENT_NAME = re.compile(r"^[A-Za-z0-9_:\-.]{1,64}$")
#: Methods of the base class that look like event handlers but are not ("unknown-event"
#: must not call `on_unknown_event` with the client's arguments).
_LIFECYCLE_HANDLERS = frozenset({"on_connect", "on_disconnect", "on_unknown_event"})
#: How long after a replay live frames are checked against it: longer than an event takes
#: from the history to the channel layer and through the hub.
REPLAY_OVERLAP_SECONDS = 10.0


class ConnectionRefused(Exception):
    """Raised by `Namespace.on_connect` to answer CONNECT_ERROR with `message` (and `data`)."""

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class Connection(Protocol):
    """What a socket needs of its Socket.IO connection (`SocketIOConnection`): typed as a
    protocol so that this module does not import the connection module, which imports it."""

    engine: EngineSession

    def send_parts(self, parts: list[str | bytes]) -> None: ...
    def new_ack(self) -> tuple[int, asyncio.Future]: ...
    def forget_ack(self, ack_id: int) -> None: ...
    def drop_socket(self, namespace: str, reason: str) -> None: ...


def _without(rooms: tuple[str, ...], room: str) -> tuple[str, ...]:
    return tuple(name for name in rooms if name != room)


class Socket:
    """One client's connection to one namespace."""

    __slots__ = ("connection", "namespace", "sid", "rooms", "data", "disconnected",
                 "_after_ack", "pid", "base", "_held", "_replayed", "__weakref__")

    def __init__(self, connection: Connection, namespace: str) -> None:
        self.connection = connection
        self.namespace = namespace
        self.sid = secrets.token_urlsafe(15)
        #: A tuple, not a set: a socket is in a few rooms (a dashboard in three), which a
        #: tuple holds in ~64 bytes against 216 for the smallest set (idle memory per
        #: connection); joins and leaves make a new one.
        self.rooms: tuple[str, ...] = ()
        self.data: dict[str, Any] = {}
        #: Set once the socket has left its namespace; it joins no room after that.
        self.disconnected = False
        #: Callbacks to run once the current event's ACK is queued; None while there are
        #: none (most sockets never have any: an idle socket stays small).
        self._after_ack: list[Callable[[], None]] | None = None
        #: Connection state recovery (realtime/server/sio/recovery.py): the private session id the
        #: client keeps, and the history offset to replay from when it comes back without
        #: one (it had received no room event).
        self.pid: str | None = None
        self.base: str | None = None
        #: Live frames held back while missed events are replayed; None when not recovering.
        self._held: list[str] | None = None
        #: After a replay, (newest replayed offset, until when): a live frame of an event
        #: the replay already sent may still be on its way (published before the history
        #: was read, delivered after the held frames were released), and is dropped.
        self._replayed: tuple[tuple[int, int], float] | None = None

    @property
    def scope(self) -> dict:
        return self.connection.engine.scope

    def deliver(self, frame: str) -> bool:
        """Hub entry point: queue an Engine.IO frame that was encoded once for many sockets.
        False when the frame is dropped (connection closed or too slow)."""
        held = self._held
        if held is None:
            if self._replayed is not None and self._already_replayed(frame):
                return True
            return self.connection.engine.enqueue(frame)
        if len(held) >= self.connection.engine.config.max_queued_frames:
            logger.warning("socket %s: %d live frames held during recovery, closing slow "
                           "client", self.sid, len(held))
            self.connection.engine.close(CloseReason.SLOW_CLIENT.value)
            return False
        held.append(frame)
        return True

    def hold(self) -> None:
        """Hold live frames back (recovery: joined rooms deliver while the history is read)."""
        if self._held is None:
            self._held = []

    def release(self, after: str | None) -> int:
        """Queue the held frames, except those with an offset not newer than `after` (already
        replayed, or already received); stop holding. Returns how many were queued."""
        held, self._held = self._held or [], None
        newest = parse_offset(after) if after else None
        if newest is not None:
            self._replayed = (newest, time.monotonic() + REPLAY_OVERLAP_SECONDS)
        queued = 0
        for frame in held:
            offset = frame_offset(frame) if newest is not None else None
            if offset is not None and parse_offset(offset) <= newest:
                continue
            if not self.connection.engine.enqueue(frame):
                break
            queued += 1
        return queued

    def _already_replayed(self, frame: str) -> bool:
        newest, until = self._replayed
        if time.monotonic() > until:
            self._replayed = None
            return False
        offset = frame_offset(frame) if isinstance(frame, str) else None
        return offset is not None and parse_offset(offset) <= newest

    def discard_held(self) -> None:
        """Stop holding live frames and drop those held (a recovery that did not happen)."""
        self._held = None

    def emit(self, event: str, *args: Any) -> None:
        self.connection.send_parts(encode_event(self.namespace, event, *args))

    def after_ack(self, callback: Callable[[], None]) -> None:
        """Run `callback` right after the ACK of the event being handled is queued (right
        after the handler when the client asked for none): e.g. to emit initial state that
        must reach the client after its `subscribed` answer."""
        if self._after_ack is None:
            self._after_ack = []
        self._after_ack.append(callback)

    def run_after_ack(self) -> None:
        """Called by the connection once the handler's ACK is queued."""
        callbacks, self._after_ack = self._after_ack, None
        for callback in callbacks or ():
            if self.disconnected or self.connection.engine.closed:
                return
            try:
                callback()
            except Exception:
                logger.exception("socket %s: after-ack callback failed", self.sid)

    async def call(self, event: str, *args: Any, timeout: float = 10.0) -> list:
        """Emit with an ack id and wait for the client's ACK; returns its arguments.

        Raises TimeoutError after `timeout` seconds, CancelledError if the connection
        closes first. Event handlers may await it (see realtime/server/sio/connection.py)."""
        ack_id, future = self.connection.new_ack()
        self.connection.send_parts(encode_event(self.namespace, event, *args, ack_id=ack_id))
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self.connection.forget_ack(ack_id)

    def state_changed(self) -> None:
        """What the namespace would park of this socket may have changed: its live
        recovery record is written again (realtime/server/sio/records.py)."""
        if self.pid is not None and not self.disconnected:
            records.changed(self)

    async def join(self, room: str, *, batched: bool = False) -> None:
        """`batched`: take the room's coalesced updates as batches
        (realtime/server/coalescing.py)."""
        if self.disconnected or room in self.rooms:
            return
        self.rooms = (*self.rooms, room)
        try:
            await get_hub().join(self, room, batched=batched)
        except BaseException:
            self.rooms = _without(self.rooms, room)  # not joined: a retry must join for real
            raise
        self.state_changed()
        if self.disconnected:
            # The connection closed while we were joining, after leave_all() ran: a member
            # left behind would keep the process in the room's group for nobody.
            await get_hub().leave(self, room)

    async def leave(self, room: str) -> None:
        if room in self.rooms:
            self.rooms = _without(self.rooms, room)
            self.state_changed()
            await get_hub().leave(self, room)

    async def leave_all(self) -> None:
        hub = get_hub()
        for room in self.rooms:
            await hub.leave(self, room)
        self.rooms = ()

    def disconnect(self) -> None:
        """Server-side disconnect from this namespace (the client gets DISCONNECT)."""
        self.connection.send_parts(Packet(PacketType.DISCONNECT, self.namespace).encode())
        self.connection.drop_socket(self.namespace, "server namespace disconnect")


class Namespace:
    """Base class of application namespaces.

    Client events are dispatched to `on_<event>` methods, with characters outside
    `[A-Za-z0-9_]` mapped to `_` (`task:updated` → `on_task_updated`). A handler's return
    value answers the client's ack: a tuple is spread into several arguments.
    """

    name = "/"

    async def on_connect(self, socket: Socket, auth: dict | None) -> None:
        """Authenticate; raise ConnectionRefused to refuse."""

    async def after_connect(self, socket: Socket) -> None:
        """Runs after the CONNECT reply is queued: emit initial events here."""

    async def on_disconnect(self, socket: Socket, reason: str) -> None:
        """The socket left the namespace (or the connection closed)."""

    #: Whether the namespace's sockets take part in connection state recovery when the
    #: gateway enables it (realtime/server/sio/recovery.py). A recoverable namespace parks its
    #: sockets' state with `park_state` and restores it with `restore_state`.
    recoverable = False

    def park_state(self, socket: Socket) -> dict:
        """The JSON-serialisable state of a socket that lost its connection and may come
        back (its subscriptions, who it was...)."""
        return {}

    async def restore_state(self, socket: Socket, state: dict) -> bool:
        """Give a reconnecting socket its parked `state` back, re-joining its rooms; called
        after `on_connect` authenticated the client again. False when the session is not
        this client's (another user): it stays parked and the client gets a fresh one."""
        return False

    def forget_state(self, socket: Socket) -> None:
        """Undo `restore_state` when the recovery failed after it (the history no longer
        holds what the client missed); the caller has already left the socket's rooms."""

    def handler_for(self, event: str):
        if event in RESERVED_EVENTS or not _EVENT_NAME.match(event):
            return None
        name = "on_" + re.sub(r"[^A-Za-z0-9_]", "_", event)
        if name in _LIFECYCLE_HANDLERS:
            return None
        return getattr(self, name, None)

    def unacknowledged_result(self, socket: Socket, event: str, result: Any) -> None:
        """What a handler returned for an event the client sent without an ack id; ignored
        by default (there is nobody to answer)."""

    async def on_unknown_event(self, socket: Socket, event: str, args: list) -> Any:
        logger.debug("namespace %s: no handler for event %r", self.name, event)
        return None
