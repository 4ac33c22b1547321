"""Engine.IO v4 sessions: state, outbound queue, heartbeat and the polling→websocket upgrade.

A session does not know HTTP or ASGI: the consumers (realtime/server/engine/consumers.py) feed it
decoded packets and give it a way to write to a websocket. The layer above (Socket.IO, or
the conformance echo) is a `SessionHandler`.

Heartbeat timers are `loop.call_later` handles, not a task per session: an idle connection
costs two small timer objects instead of a coroutine frame.

Longer than the project's ~400 lines on purpose: one state machine (open, upgrading,
closed) whose queue, heartbeat and upgrade transitions change the same fields and are only
correct read together; splitting the class across modules would hide that.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

from .. import metrics
from ..conf import RealtimeConfig
from ..protocol.engineio import Packet, PacketType, ProtocolError, decode_payload, open_packet
from . import batch as write_batch
from .limits import MessageLimit

logger = logging.getLogger(__name__)

PING_FRAME = "2"
NOOP_FRAME = "6"
CLOSE_FRAME = "1"


class SessionState(enum.Enum):
    OPEN = "open"
    UPGRADING = "upgrading"  # a websocket sent 2probe; polling is being drained
    CLOSED = "closed"


class Transport(enum.StrEnum):
    POLLING = "polling"
    WEBSOCKET = "websocket"


class CloseReason(enum.StrEnum):
    CLIENT = "client namespace disconnect"
    CLIENT_CLOSE = "transport close"
    PING_TIMEOUT = "ping timeout"
    PARSE_ERROR = "parse error"
    TRANSPORT_ERROR = "transport error"
    SLOW_CLIENT = "slow client"
    SERVER = "server shutting down"
    FORCED = "forced close"


class IllegalTransition(RuntimeError):
    pass


class PollError(Exception):
    """A polling request that must be answered with HTTP 400."""


class SessionHandler(Protocol):
    async def on_open(self) -> None: ...
    async def on_message(self, data: str | bytes) -> None: ...
    async def on_close(self, reason: str) -> None: ...


class SessionOwner(Protocol):
    """What a session needs of the server that created it (`EngineServer`): typed as a
    protocol so that the session module does not import the server module, which imports it."""

    config: RealtimeConfig
    handler_factory: Callable[[EngineSession], SessionHandler]

    def forget(self, session: EngineSession) -> None: ...


#: Writes one frame (text or binary) to the websocket; raises when the socket is gone.
WebSocketWriter = Callable[[str | bytes], Awaitable[None]]


class EngineSession:
    """One Engine.IO session.

    Outbound items are either a complete Engine.IO text packet (``"42[...]"``, ``"2"``) or
    ``bytes`` (a binary message), so a frame encoded once by a broadcaster can be queued for
    many sessions without copying.

    Slots, and a queue created only when a frame has to wait: an idle websocket session is
    a small object (idle memory per connection).
    """

    __slots__ = ("server", "config", "sid", "scope", "transport", "state", "_queue", "handler",
                 "_loop", "_poll_waiter", "_ws_writer", "_ws_write_now", "_ws_close", "_writing",
                 "_ping_timer", "_ping_due", "_pong_timer", "_upgrade_timer", "_drained",
                 "close_reason", "inbound_limit", "_ws_limit", "__weakref__")

    def __init__(self, server: SessionOwner, transport: Transport, scope: dict) -> None:
        self.server = server
        self.config = server.config
        self.sid = secrets.token_urlsafe(15)
        self.scope = scope
        self.transport = transport
        self.state = SessionState.OPEN
        self._queue: deque[str | bytes] | None = None
        self._loop = asyncio.get_running_loop()
        self._poll_waiter: asyncio.Future | None = None
        self._ws_writer: WebSocketWriter | None = None
        #: Writes a frame synchronously when the server allows it (True), see
        #: realtime/server/engine/uvicorn_ws.py; None under other servers.
        self._ws_write_now: Callable[[str | bytes], bool] | None = None
        self._ws_close: Callable[[], Awaitable[None]] | None = None
        self._writing = False
        self._ping_timer: asyncio.TimerHandle | None = None
        # The heartbeat runs from the moment the session exists (before its open packet is
        # written), on due times rather than on when timers happened to fire: a busy loop
        # must not stretch the interval + timeout a client is promised.
        self._ping_due = self._loop.time() + self.config.ping_interval_ms / 1000
        self._pong_timer: asyncio.TimerHandle | None = None
        self._upgrade_timer: asyncio.TimerHandle | None = None
        #: Set when the queue empties; created only while someone waits (`wait_drained`).
        self._drained: asyncio.Event | None = None
        self.close_reason: str | None = None
        #: Largest websocket message or polling body accepted now, in bytes: maxPayload, or
        #: less until the handler trusts the client (`limit_inbound`, `trust`).
        self.inbound_limit = self.config.max_payload
        #: The ASGI server's message limit of this session's websocket while it is lowered.
        self._ws_limit: MessageLimit | None = None
        self.handler: SessionHandler = server.handler_factory(self)

    # -- inbound limit -------------------------------------------------------------

    def limit_inbound(self, size: int) -> None:
        """Accept messages of at most `size` bytes until `trust()` (the handler calls it
        when created: e.g. nothing larger than a CONNECT before the client authenticated)."""
        self.inbound_limit = min(size, self.config.max_payload)

    def trust(self) -> None:
        """The handler trusts the client now: accept messages up to maxPayload."""
        self.inbound_limit = self.config.max_payload
        limit, self._ws_limit = self._ws_limit, None
        if limit is not None:
            limit.set(None)

    def refused_by_transport(self) -> bool:
        """True when the websocket's server closed it for a message over `inbound_limit`."""
        return self._ws_limit is not None and self._ws_limit.refused()

    def _apply_ws_limit(self, limit: MessageLimit | None) -> None:
        """Hold the websocket's server-side message limit to `inbound_limit` until trusted
        (an upgraded session may have been trusted while its probe websocket was limited)."""
        if limit is None:
            return
        if self.inbound_limit < self.config.max_payload:
            limit.set(self.inbound_limit)
            self._ws_limit = limit
        else:
            limit.set(None)

    # -- lifecycle ---------------------------------------------------------------

    def open_frame(self) -> str:
        upgrades = ["websocket"] if self.transport is Transport.POLLING else []
        return open_packet(
            sid=self.sid,
            upgrades=upgrades,
            ping_interval_ms=self.config.ping_interval_ms,
            ping_timeout_ms=self.config.ping_timeout_ms,
            max_payload=self.config.max_payload,
        ).encode_polling()

    async def start(self) -> None:
        self._schedule_ping()
        await self.handler.on_open()

    @property
    def queue(self) -> deque[str | bytes]:
        """Frames waiting for the transport, oldest first."""
        if self._queue is None:
            self._queue = deque()
        return self._queue

    @property
    def closed(self) -> bool:
        return self.state is SessionState.CLOSED

    def close(self, reason: str, *, notify_poller: str = CLOSE_FRAME) -> None:
        """Close the session now; idempotent. The handler is told asynchronously."""
        if self.state is SessionState.CLOSED:
            return
        self.state = SessionState.CLOSED
        self.close_reason = reason
        for timer in (self._ping_timer, self._pong_timer, self._upgrade_timer):
            if timer is not None:
                timer.cancel()
        self._queue = None
        self._ws_limit = None
        self._notify_drained()
        self.server.forget(self)
        if self._poll_waiter is not None and not self._poll_waiter.done():
            self._poll_waiter.set_result(notify_poller)
        if self._ws_close is not None:
            self._loop.create_task(self._ws_close())
        self._loop.create_task(self._notify_closed(reason))

    async def _notify_closed(self, reason: str) -> None:
        try:
            await self.handler.on_close(reason)
        except Exception:
            logger.exception("session %s: on_close handler failed", self.sid)

    # -- heartbeat ---------------------------------------------------------------

    def _schedule_ping(self) -> None:
        self._ping_timer = self._loop.call_at(self._ping_due, self._send_ping)

    def _send_ping(self) -> None:
        if self.closed:
            return
        self.enqueue(PING_FRAME)
        self._pong_timer = self._loop.call_at(
            self._ping_due + self.config.ping_timeout_ms / 1000,
            self.close, CloseReason.PING_TIMEOUT.value,
        )

    def _on_pong(self) -> None:
        if self._pong_timer is not None:
            self._pong_timer.cancel()
            self._pong_timer = None
            if self._ping_timer is not None:
                self._ping_timer.cancel()
            self._ping_due = self._loop.time() + self.config.ping_interval_ms / 1000
            self._schedule_ping()

    # -- outbound ----------------------------------------------------------------

    def send_message(self, data: str | bytes) -> None:
        """Queue one Engine.IO MESSAGE (text, or binary)."""
        self.enqueue("4" + data if isinstance(data, str) else data)

    def enqueue(self, item: str | bytes) -> bool:
        """Queue an encoded text packet or a binary message; never blocks. Returns False
        when the item is dropped: the session is closed, or too slow and closed now."""
        if self.state is SessionState.CLOSED:
            return False
        queue = self._queue
        if queue is not None and len(queue) >= self.config.max_queued_frames:
            logger.warning("session %s: %d frames queued, closing slow client", self.sid,
                           len(queue))
            self.close(CloseReason.SLOW_CLIENT.value)
            return False
        writer = self._ws_writer
        if writer is not None and not self._writing and not queue:
            write_now = self._ws_write_now
            if write_now is not None:
                batch = write_batch._filling
                if batch is not None and batch.loop is self._loop:
                    # Held for the batch (write_batch): what is queued for this session until
                    # the batch is written waits behind it (`_writing`), in order.
                    self._writing = True
                    self.queue.append(item)
                    batch.sessions.append(self)
                    return True
                try:
                    if write_now(item):
                        return True
                except Exception:
                    self._write_failed()
                    return False
            return self._write_eagerly(writer, item)
        self.queue.append(item)
        if writer is not None:
            if not self._writing:
                self._writing = True
                self._loop.create_task(self._drain_to_websocket())
        elif self._poll_waiter is not None and not self._poll_waiter.done():
            self._poll_waiter.set_result(None)
        return True

    def write_held(self) -> None:
        """Write what was held for a write batch, and what was queued behind it, with one
        call when the server's direct writer takes a list (uvicorn_ws), else frame by frame
        through the writer coroutine."""
        queue = self._queue
        if queue is None or self.state is SessionState.CLOSED:
            self._writing = False
            return
        write_now = self._ws_write_now
        try:
            if write_now is not None and write_now(list(queue)):
                self._queue = None
                self._writing = False
                self._notify_drained()
                return
        except Exception:
            self._writing = False
            self._write_failed()
            return
        self._loop.create_task(self._drain_to_websocket())

    def _write_eagerly(self, writer: WebSocketWriter, item: str | bytes) -> bool:
        """Write `item` now, in the caller's stack: step the writer coroutine once instead
        of scheduling a task per frame (a publish to 1,000 idle sockets would otherwise
        create 1,000 tasks, half the fan-out cost). An ASGI `send` finishes without
        suspending unless the transport pushes back; only then does a task take over the
        rest of that write, and frames queued meanwhile wait behind it (`_writing`), in
        order and under the queue's bound."""
        coro = writer(item)
        try:
            waiting = coro.send(None)
        except StopIteration:
            return True
        except Exception:
            self._write_failed()
            return False
        self._writing = True
        self._loop.create_task(self._finish_write(coro, waiting))
        return True

    async def _finish_write(self, coro, waiting) -> None:
        """Drive a writer coroutine that suspended on `waiting` (what it yielded: a future,
        or None for a bare yield) to its end, then drain what was queued meanwhile."""
        try:
            while True:
                try:
                    if waiting is None:
                        await asyncio.sleep(0)
                    else:
                        # What a task does with a future its coroutine yields: without
                        # this, awaiting it again fails ("await wasn't used with future").
                        waiting._asyncio_future_blocking = False
                        await waiting
                except BaseException as exc:  # cancelled: let the writer see it
                    waiting = coro.throw(exc)
                else:
                    waiting = coro.send(None)
        except StopIteration:
            pass
        except Exception:
            self._writing = False
            self._write_failed()
            return
        except BaseException:
            self._writing = False
            raise
        await self._drain_to_websocket()

    async def _drain_to_websocket(self) -> None:
        writer = self._ws_writer
        try:
            while self._queue and writer is not None:
                await writer(self._queue.popleft())
        except Exception:
            self._write_failed()
        finally:
            self._writing = False
        if not self._queue:
            self._queue = None
            self._notify_drained()

    def _write_failed(self) -> None:
        """The websocket refused a frame (the client is gone): end the session."""
        logger.info("session %s: websocket write failed", self.sid)
        self.close(CloseReason.TRANSPORT_ERROR.value)

    async def wait_drained(self) -> None:
        """Wait until every queued frame was handed to the transport (or the session closed):
        lets a long burst, such as a recovery replay, be queued a part at a time."""
        while self._queue and not self.closed:
            if self._drained is None:
                self._drained = asyncio.Event()
            await self._drained.wait()

    def _notify_drained(self) -> None:
        if self._drained is not None:
            self._drained.set()
            self._drained = None

    # -- polling transport ---------------------------------------------------------

    async def poll(self) -> str:
        """Serve one long-polling GET: the queued packets, waiting for some if there are none."""
        if self.transport is not Transport.POLLING or self.closed:
            raise PollError("Session is not polling")
        if self._poll_waiter is not None:
            # A second concurrent GET is a protocol violation: the first one gets `1`
            # (close), this one a 400, and the session is gone.
            self.close(CloseReason.TRANSPORT_ERROR.value)
            raise PollError("Overlapping GET requests")
        if not self._queue:
            if self.state is SessionState.UPGRADING:
                # Like the reference server's fast-upgrade noop: never hold a GET while the
                # client is moving to the websocket.
                return NOOP_FRAME
            self._poll_waiter = self._loop.create_future()
            try:
                outcome = await self._poll_waiter
            finally:
                self._poll_waiter = None
            if outcome is not None:
                return outcome
        return self._take_polling_payload()

    def _take_polling_payload(self) -> str:
        items = []
        queue, self._queue = self._queue or (), None
        for item in queue:
            items.append(
                item if isinstance(item, str) else Packet(PacketType.MESSAGE, item).encode_polling()
            )
        self._notify_drained()
        return "\x1e".join(items)

    async def receive_payload(self, body: bytes) -> None:
        """Handle one polling POST body. Raises PollError (→ 400) on bad input."""
        if self.transport is not Transport.POLLING or self.closed:
            raise PollError("Session is not polling")
        try:
            packets = decode_payload(body)
        except ProtocolError as exc:
            logger.info("session %s: bad polling payload (%s), closing", self.sid, exc)
            self.close(CloseReason.PARSE_ERROR.value)
            raise PollError(str(exc)) from None
        for packet in packets:
            if self.closed:
                break
            await self.receive(packet)

    # -- inbound (both transports) ---------------------------------------------------

    async def receive(self, packet: Packet) -> None:
        kind = packet.type
        if kind is PacketType.MESSAGE:
            await self.handler.on_message(packet.data)
        elif kind is PacketType.PONG:
            self._on_pong()
        elif kind is PacketType.CLOSE:
            # A client close: a GET still waiting completes with a noop.
            self.close(CloseReason.CLIENT_CLOSE.value, notify_poller=NOOP_FRAME)
        elif kind is PacketType.NOOP:
            pass
        else:
            logger.info("session %s: unexpected %s packet, closing", self.sid, kind.name)
            self.close(CloseReason.PARSE_ERROR.value)

    # -- websocket transport ---------------------------------------------------------

    def attach_websocket(self, writer: WebSocketWriter,
                         closer: Callable[[], Awaitable[None]],
                         write_now: Callable[[str | bytes], bool] | None = None,
                         limit: MessageLimit | None = None) -> None:
        """Use a websocket as this session's transport (direct websocket handshake).
        `write_now`, when the server offers one, writes a frame without a coroutine;
        `limit`, the server's message limit of that websocket (realtime/server/engine/limits.py)."""
        self.transport = Transport.WEBSOCKET
        self._ws_writer = writer
        self._ws_write_now = write_now
        self._ws_close = closer
        self._apply_ws_limit(limit)

    def begin_upgrade(self, close_probe: Callable[[], Awaitable[None]]) -> None:
        """A websocket probe arrived (2probe): stop long-polling, release a waiting GET.

        Without `5` within the upgrade timeout the upgrade is abandoned and the probe
        websocket closed (`close_probe`), as the reference server does: until then every GET
        is answered at once, which a client stuck halfway would turn into a busy loop."""
        if self.state is not SessionState.OPEN or self.transport is not Transport.POLLING:
            raise IllegalTransition(
                f"cannot upgrade a {self.state.value} {self.transport.value} session")
        self.state = SessionState.UPGRADING
        self._upgrade_timer = self._loop.call_later(
            self.config.upgrade_timeout_ms / 1000, self._upgrade_timed_out, close_probe
        )
        if self._poll_waiter is not None and not self._poll_waiter.done():
            self._poll_waiter.set_result(NOOP_FRAME)

    def complete_upgrade(self, writer: WebSocketWriter,
                         closer: Callable[[], Awaitable[None]],
                         write_now: Callable[[str | bytes], bool] | None = None,
                         limit: MessageLimit | None = None) -> None:
        """The client sent `5`: the websocket is the transport from now on."""
        if self.state is not SessionState.UPGRADING:
            raise IllegalTransition(f"cannot complete an upgrade from {self.state.value}")
        self._cancel_upgrade_timer()
        self.state = SessionState.OPEN
        self.attach_websocket(writer, closer, write_now, limit)
        metrics.connections.labels(transport=Transport.POLLING.value).dec()
        metrics.connections.labels(transport=Transport.WEBSOCKET.value).inc()
        if self._queue and not self._writing:
            self._writing = True
            self._loop.create_task(self._drain_to_websocket())

    def abort_upgrade(self) -> None:
        self._cancel_upgrade_timer()
        if self.state is SessionState.UPGRADING:
            self.state = SessionState.OPEN

    def _cancel_upgrade_timer(self) -> None:
        if self._upgrade_timer is not None:
            self._upgrade_timer.cancel()
            self._upgrade_timer = None

    def _upgrade_timed_out(self, close_probe: Callable[[], Awaitable[None]]) -> None:
        self._upgrade_timer = None
        if self.state is SessionState.UPGRADING:
            logger.info("session %s: no upgrade within the upgrade timeout", self.sid)
            self.abort_upgrade()
            self._loop.create_task(close_probe())
