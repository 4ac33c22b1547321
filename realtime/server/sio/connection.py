"""One Socket.IO connection over one Engine.IO session (the session's handler).

Packets are handled one at a time, in arrival order, by a worker task of the connection,
not by the transport's receive loop: a handler may then await the client's ACK
(`Socket.call`), which the receive loop resolves as soon as it arrives. ACKs are the only
packets handled at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from ..engine.session import CloseReason, EngineSession
from ..protocol.engineio import ProtocolError
from ..protocol.socketio import Packet, PacketType
from ..protocol.socketio_decoder import Decoder, LimitExceeded
from . import records, recovery
from .namespace import ConnectionRefused, Namespace, Socket

logger = logging.getLogger(__name__)

#: Packets waiting for their handlers before the client is judged to be flooding.
MAX_PENDING_PACKETS = 1000


class SocketIOConnection:
    # Slots, and no inbox or worker task while no packet waits: an idle connection is one
    # of thousands held by a process (idle memory per connection).
    __slots__ = ("engine", "namespaces", "sockets", "decoder", "pending_acks", "_next_ack_id",
                 "_connect_timer", "_inbox", "_worker")

    def __init__(self, engine: EngineSession, namespaces: dict[str, Namespace]) -> None:
        self.engine = engine
        self.namespaces = namespaces
        self.sockets: dict[str, Socket] = {}
        config = engine.config
        # Until a namespace accepted its CONNECT the client is a stranger: a CONNECT is all
        # it may send, so no binary packet, and small messages only (`trust` lifts both).
        self.decoder = Decoder(max_attachments=0,
                               max_attachment_bytes=config.max_attachment_bytes,
                               budget=engine.server.attachment_budget)
        engine.limit_inbound(config.unauthenticated_max_payload)
        #: Futures of the server's emits that await the client's ACK; None while there are none.
        self.pending_acks: dict[int, asyncio.Future] | None = None
        self._next_ack_id = 0
        self._connect_timer: asyncio.TimerHandle | None = None
        #: Packets waiting for the worker; None when there are none.
        self._inbox: deque[Packet] | None = None
        #: The task handling the inbox; None once it has emptied it (a finished task would
        #: otherwise stay referenced for the life of the connection).
        self._worker: asyncio.Task | None = None

    # -- engine session handler ----------------------------------------------------

    async def on_open(self) -> None:
        timeout = self.engine.config.connect_timeout_ms / 1000
        self._connect_timer = asyncio.get_running_loop().call_later(timeout, self._connect_timeout)

    def _connect_timeout(self) -> None:
        if not self.sockets:
            logger.info("session %s: no CONNECT within the connect timeout", self.engine.sid)
            self.engine.close(CloseReason.FORCED.value)

    async def on_message(self, data: str | bytes) -> None:
        try:
            packet = self.decoder.feed(data)
        except LimitExceeded as exc:
            logger.warning("session %s: %s (limit %s=%d%s), closing", self.engine.sid, exc,
                           exc.limit_name, exc.limit,
                           "" if self.sockets else ", not authenticated")
            self.engine.close(CloseReason.PARSE_ERROR.value)
            return
        except ProtocolError as exc:
            logger.info("session %s: malformed Socket.IO packet (%s), closing", self.engine.sid,
                        exc)
            self.engine.close(CloseReason.PARSE_ERROR.value)
            return
        if packet is None:
            return  # waiting for binary attachments
        if packet.type is PacketType.ACK:
            self._on_ack(packet)
            return
        inbox = self._inbox
        if inbox is None:
            inbox = self._inbox = deque()
        elif len(inbox) >= MAX_PENDING_PACKETS:
            logger.warning("session %s: %d packets waiting for their handlers, closing",
                           self.engine.sid, len(inbox))
            self.engine.close(CloseReason.FORCED.value)
            return
        inbox.append(packet)
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work())

    async def _work(self) -> None:
        try:
            while self._inbox and not self.engine.closed:
                packet = self._inbox.popleft()
                try:
                    await self._dispatch(packet)
                except Exception:
                    logger.exception("session %s: handling a %s packet failed",
                                     self.engine.sid, packet.type.name)
        finally:
            # No await between the last check of the inbox and here: a packet queued after
            # it finds no worker and starts one.
            self._worker = None
            if not self._inbox:
                self._inbox = None

    async def _dispatch(self, packet: Packet) -> None:
        kind = packet.type
        if kind is PacketType.CONNECT:
            await self._on_connect(packet)
        elif kind is PacketType.EVENT:
            await self._on_event(packet)
        elif kind is PacketType.DISCONNECT:
            await self._on_disconnect(packet.namespace, "client namespace disconnect")
        else:  # CONNECT_ERROR is server → client only
            logger.info("session %s: client sent %s, closing", self.engine.sid, kind.name)
            self.engine.close(CloseReason.PARSE_ERROR.value)

    async def on_close(self, reason: str) -> None:
        # Attachments of an incomplete packet go now, not when the collector gets to this
        # connection (it is in a reference cycle with its session), and so does their share
        # of the process's budget.
        self.decoder.reset()
        if self._connect_timer is not None:
            self._connect_timer.cancel()
        # A client that sent `41` and closed at once left on purpose: its session must not
        # be parked for recovery, though the close overtook the `41` in the inbox.
        inbox, self._inbox = self._inbox or (), None
        for packet in inbox:
            if packet.type is PacketType.DISCONNECT:
                await self._on_disconnect(packet.namespace, "client namespace disconnect")
        for namespace in list(self.sockets):
            await self._on_disconnect(namespace, reason)
        pending, self.pending_acks = self.pending_acks or {}, None
        for future in pending.values():
            future.cancel()

    # -- outbound --------------------------------------------------------------------

    def send_parts(self, parts: list[str | bytes]) -> None:
        for part in parts:
            self.engine.send_message(part)

    def send_packet(self, packet: Packet) -> None:
        self.send_parts(packet.encode())

    def forget_ack(self, ack_id: int) -> None:
        if self.pending_acks:
            self.pending_acks.pop(ack_id, None)
            if not self.pending_acks:
                self.pending_acks = None

    def new_ack(self) -> tuple[int, asyncio.Future]:
        ack_id = self._next_ack_id
        self._next_ack_id += 1
        future = asyncio.get_running_loop().create_future()
        if self.pending_acks is None:
            self.pending_acks = {}
        self.pending_acks[ack_id] = future
        return ack_id, future

    def drop_socket(self, namespace: str, reason: str) -> None:
        asyncio.get_running_loop().create_task(self._on_disconnect(namespace, reason))

    # -- inbound ---------------------------------------------------------------------

    async def _on_connect(self, packet: Packet) -> None:
        name = packet.namespace
        namespace = self.namespaces.get(name)
        if namespace is None:
            self.send_packet(Packet.connect_error(name, "Invalid namespace"))
            return
        if name in self.sockets:
            return  # already connected: the reference server ignores a duplicate CONNECT
        socket = Socket(self, name)
        try:
            await namespace.on_connect(socket, packet.data)
        except ConnectionRefused as refused:
            self.send_packet(Packet.connect_error(name, refused.message, refused.data))
            return
        config = self.engine.config
        missed: list[str] = []
        if recovery.enabled(config, namespace):
            missed = await recovery.open_session(socket, namespace, packet.data, config)
        if self.engine.closed:
            # Closed meanwhile: undo what on_connect (and a recovery) set up, as on_close
            # would have done had the socket been connected.
            self.sockets[name] = socket
            await self._on_disconnect(name, self.engine.close_reason or "")
            return
        self.sockets[name] = socket
        self.decoder.max_attachments = config.max_attachments
        self.engine.trust()
        if self._connect_timer is not None:
            # Connected: no timer per connection for the rest of the connect timeout (after a
            # reconnect storm, thousands of them would sit in the loop's heap).
            self._connect_timer.cancel()
            self._connect_timer = None
        reply = {"sid": socket.sid} if socket.pid is None else {"sid": socket.sid,
                                                                 "pid": socket.pid}
        self.send_packet(Packet(PacketType.CONNECT, name, reply))
        if socket.pid is not None:
            records.keeper(config).track(socket, namespace)
            await recovery.replay(socket, missed, config)
        await namespace.after_connect(socket)

    async def _on_event(self, packet: Packet) -> None:
        socket = self.sockets.get(packet.namespace)
        if socket is None:
            return  # not connected to that namespace: ignored, as the reference server does
        namespace = self.namespaces[packet.namespace]
        event, *args = packet.data
        handler = namespace.handler_for(event)
        try:
            if handler is None:
                result = await namespace.on_unknown_event(socket, event, args)
            else:
                result = await handler(socket, *args)
        except TypeError:
            logger.info("session %s: bad arguments for event %r", self.engine.sid, event)
            result = {"event": "error", "data": {"message": f"bad arguments for {event}"}}
        except Exception:
            # A failing handler (database or Redis down…) answers with an error; it must not
            # take the consumer, and every other frame of this connection, down with it.
            logger.exception("session %s: handler of event %r failed", self.engine.sid, event)
            result = {"event": "error", "data": {"message": f"{event} failed, try again"}}
        if packet.id is not None and not self.engine.closed:
            if result is None:
                ack_args: list = []
            elif isinstance(result, tuple):
                ack_args = list(result)
            else:
                ack_args = [result]
            self.send_packet(Packet(PacketType.ACK, packet.namespace, ack_args, packet.id))
        elif result is not None and not self.engine.closed:
            namespace.unacknowledged_result(socket, event, result)
        # A handler may have changed what the namespace parks (subscriptions) after its
        # last join or leave: the live recovery record is written again.
        socket.state_changed()
        socket.run_after_ack()

    def _on_ack(self, packet: Packet) -> None:
        future = self.pending_acks.pop(packet.id, None) if self.pending_acks else None
        if future is not None and not future.done():
            future.set_result(packet.data)

    async def _on_disconnect(self, name: str, reason: str) -> None:
        socket = self.sockets.pop(name, None)
        if socket is None:
            return
        socket.disconnected = True
        namespace = self.namespaces[name]
        parked = recovery.session_record(socket, namespace, reason)
        if socket.pid is not None:
            records.keeper(self.engine.config).untrack(socket, parked=parked is not None)
        try:
            await socket.leave_all()
            await namespace.on_disconnect(socket, reason)
        except Exception:
            logger.exception("session %s: disconnect handler of %s failed", self.engine.sid, name)
        if parked is not None:
            await recovery.park(socket, parked, self.engine.config)
