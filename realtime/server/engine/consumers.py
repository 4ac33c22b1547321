"""Channels consumers for the two Engine.IO transports. They parse and delegate; the
session (realtime/server/engine/session.py) holds the protocol state.

Neither consumer opens a channel-layer channel of its own: broadcast frames reach sockets
through the per-process hub (realtime/server/hub.py), which is what makes fan-out cheap. The
websocket one is not even a Channels consumer: it is held open by every idle client, so it
is a plain ASGI loop with slots (see WebSocketConsumer).
"""

from __future__ import annotations

import logging

import orjson
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.http import AsyncHttpConsumer

from ..protocol.engineio import Packet, PacketType, ProtocolError
from .flow import TransportFlow, attach_flow
from .limits import MessageLimit, message_limiter
from .server import EngineServer, RequestError, header, query_params
from .session import (
    CloseReason,
    EngineSession,
    IllegalTransition,
    PollError,
    SessionState,
    Transport,
)
from .uvicorn_ws import direct_frame_writer

logger = logging.getLogger(__name__)

#: A channel-layer alias that is not configured: consumers get no per-connection channel.
NO_CHANNEL_LAYER = "__realtime_no_layer__"


def log_refused(session: EngineSession, what: str, limit: int) -> None:
    """One line for a message refused for its size: a warning when the session's limit is
    the lower one of a client that has not authenticated (a client has no reason to send
    that much then), as for a flood; a client over maxPayload is only misbehaving."""
    if limit < session.config.max_payload:
        logger.warning("session %s: %s over the limit of %d bytes before authentication, "
                       "closing", session.sid, what, limit)
    else:
        logger.info("session %s: %s over maxPayload (%d bytes), closing", session.sid, what,
                    limit)


def _frame_size(frame: str | bytes, limit: int) -> int:
    """The size of a frame in bytes, as maxPayload counts it; a text frame is only encoded
    when its length in characters cannot settle the comparison with `limit`."""
    if isinstance(frame, bytes) or len(frame) > limit or len(frame) * 4 <= limit:
        return len(frame)
    return len(frame.encode("utf-8"))


class _DirectDispatch:
    """Skip `aclose_old_connections()` on every frame: these handlers do their database work
    through `database_sync_to_async`, which manages connections itself, and the thread hop
    per message was ~40 % of CPU in fan-out profiles (Channels >= 4.2)."""

    channel_layer_alias = NO_CHANNEL_LAYER

    async def dispatch(self, message):
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)


class PollingConsumer(_DirectDispatch, AsyncHttpConsumer):
    def __init__(self, *, server: EngineServer) -> None:
        super().__init__()
        self.server = server
        self.body_size = 0
        #: Largest body this request may carry: its session's inbound limit (looked up at
        #: the first chunk), the unauthenticated one for a request without a session.
        self.body_limit: int | None = None

    def cors_headers(self) -> list[tuple[bytes, bytes]]:
        origin = header(self.scope, b"origin")
        if origin is None or not self.server.origin_allowed(origin):
            return []
        return [
            (b"Access-Control-Allow-Origin", origin.encode("latin-1")),
            (b"Access-Control-Allow-Credentials", b"true"),
        ]

    async def respond(self, status: int, body: bytes, content_type: bytes) -> None:
        await self.send_response(
            status, body,
            headers=[(b"Content-Type", content_type), (b"Cache-Control", b"no-store"),
                     *self.cors_headers()],
        )

    async def respond_text(self, text: str) -> None:
        await self.respond(200, text.encode("utf-8"), b"text/plain; charset=UTF-8")

    async def respond_error(self, error: RequestError, status: int = 400) -> None:
        body = orjson.dumps({"code": int(error), "message": error.message})
        await self.respond(status, body, b"application/json")

    async def http_request(self, message) -> None:
        # Refuse an oversized POST as it streams in, before buffering all of it.
        self.body_size += len(message.get("body", b""))
        session = None
        if self.body_limit is None:
            session = self.server.get(query_params(self.scope).get("sid"))
            config = self.server.config
            self.body_limit = (session.inbound_limit if session is not None else
                               min(config.unauthenticated_max_payload, config.max_payload))
        if self.body_size > self.body_limit:
            session = session or self.server.get(query_params(self.scope).get("sid"))
            if session is not None:
                log_refused(session, "POST body", self.body_limit)
                session.close(CloseReason.PARSE_ERROR.value)
            await self.respond(413, b"Payload too large", b"text/plain")
            raise StopConsumer()
        await super().http_request(message)

    async def handle(self, body: bytes) -> None:
        method = self.scope["method"]
        if method == "OPTIONS":
            await self.send_response(204, b"", headers=[
                *self.cors_headers(),
                (b"Access-Control-Allow-Methods", b"GET, POST, OPTIONS"),
                (b"Access-Control-Allow-Headers", b"Content-Type, Authorization"),
            ])
            return
        params = query_params(self.scope)
        error = self.server.validate(self.scope, params, Transport.POLLING)
        if error is not None:
            await self.respond_error(error, 403 if error is RequestError.FORBIDDEN else 400)
            return
        sid = params.get("sid")
        if not sid:
            if method != "GET":
                await self.respond_error(RequestError.BAD_HANDSHAKE_METHOD)
                return
            await self.handshake()
            return
        session = self.server.get(sid)
        if session is None:
            await self.respond_error(RequestError.UNKNOWN_SID)
            return
        try:
            if method == "GET":
                await self.respond_text(await session.poll())
            elif method in ("POST", "PUT"):
                await session.receive_payload(body)
                await self.respond(200, b"ok", b"text/html")
            else:
                await self.respond_error(RequestError.BAD_REQUEST)
        except PollError:
            await self.respond_error(RequestError.BAD_REQUEST)

    async def handshake(self) -> None:
        if self.server.draining:
            # The process is about to exit: the client retries, through the balancer, on
            # another one.
            await self.send_response(503, b"Server draining", headers=[
                (b"Content-Type", b"text/plain"), (b"Retry-After", b"1"),
                *self.cors_headers()])
            return
        session = await self.server.open(Transport.POLLING, self.scope)
        await self.respond_text(session.open_frame())
        await session.start()


class WebSocketConsumer:
    """The websocket transport, as a plain ASGI application rather than a Channels consumer.

    A Channels consumer costs every idle connection a pending `receive()` task, the
    futures and callbacks of `asyncio.wait`, and the instance's attribute dict; every frame
    it receives goes through a new task. This loop awaits `receive()` itself, and the
    instance has slots only (idle memory per connection). Its interface is a
    consumer's: `as_asgi(**initkwargs)`, `connect`, `receive`, `disconnect`, `accept`,
    `close`. No channel-layer channel: broadcast frames arrive through the hub.
    """

    __slots__ = ("server", "scope", "base_send", "session", "upgrading", "flow", "outgoing")

    def __init__(self, *, server: EngineServer) -> None:
        self.server = server
        self.session: EngineSession | None = None
        self.upgrading: EngineSession | None = None
        #: Write backpressure (realtime/server/engine/flow.py); None when the server provides it.
        self.flow: TransportFlow | None = None
        #: The server's message limit, lifted for a large outgoing frame (daphne only).
        self.outgoing: MessageLimit | None = None

    @classmethod
    def as_asgi(cls, **initkwargs):
        def app(scope, receive, send):
            # Not a coroutine function: returns the consumer's own coroutine, one coroutine
            # frame less to keep per open websocket.
            return cls(**initkwargs)(scope, receive, send)

        app.consumer_class = cls
        app.consumer_initkwargs = initkwargs
        return app

    async def __call__(self, scope, receive, send) -> None:
        self.scope = scope
        self.base_send = send
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                text = message.get("text")
                await self.receive(text if text is not None else message.get("bytes"))
            elif kind == "websocket.connect":
                await self.connect()
            elif kind == "websocket.disconnect":
                await self.disconnect(message.get("code"))
                return
            # Not kept alive while the next message is awaited, which for an idle
            # connection is most of its life (idle memory per connection).
            message = text = None

    async def accept(self) -> None:
        await self.base_send({"type": "websocket.accept"})

    async def close(self, code: int | None = None) -> None:
        message = {"type": "websocket.close"}
        if code is not None:
            message["code"] = code
        await self.base_send(message)

    async def connect(self) -> None:
        params = query_params(self.scope)
        if self.server.validate(self.scope, params, Transport.WEBSOCKET) is not None:
            await self.close()
            return
        sid = params.get("sid")
        if sid:
            session = self.server.get(sid)
            if session is None:
                await self.close()
                return
            await self.accept()
            if session.transport is not Transport.POLLING or session.state is not SessionState.OPEN:
                # A second websocket for a session that has upgraded already (or is being
                # upgraded by another one): as the reference server does, its handshake
                # succeeds and it is closed at once; the session keeps its transport.
                logger.info("session %s: a second websocket for the session, closing it",
                            session.sid)
                await self.close()
                return
            self.flow = attach_flow(self.base_send)
            limit = message_limiter(self.base_send)
            self.outgoing = limit if self.flow is not None else None
            if limit is not None and session.inbound_limit < session.config.max_payload:
                limit.set(session.inbound_limit)  # restored by the session once trusted
            self.upgrading = session
            return
        if self.server.draining:
            await self.close()  # refused (403): the client retries on another process
            return
        await self.accept()
        self.flow = attach_flow(self.base_send)
        limit = message_limiter(self.base_send)
        self.outgoing = limit if self.flow is not None else None
        session = await self.server.open(Transport.WEBSOCKET, self.scope)
        session.attach_websocket(self.writer(), self.close_transport, self.write_now(), limit)
        self.session = session
        await self.write(session.open_frame())
        await session.start()

    def writer(self):
        """The session's websocket writer: `send` itself when the server applies
        backpressure in `send` (uvicorn), one coroutine less per frame."""
        return self.write if self.flow is not None else self.send_frame

    def write_now(self):
        """A synchronous frame writer when the server offers one (uvicorn with
        realtime.server.engine.uvicorn_ws); never with our own backpressure wrapper (daphne)."""
        if self.flow is not None:
            return None
        return direct_frame_writer(self.base_send)

    def send_frame(self, frame: str | bytes):
        """The ASGI `send` of one frame (a coroutine, not awaited here)."""
        if isinstance(frame, str):
            return self.base_send({"type": "websocket.send", "text": frame})
        return self.base_send({"type": "websocket.send", "bytes": frame})

    async def write(self, frame: str | bytes) -> None:
        flow = self.flow
        if flow is not None and not flow.writable:
            # The client reads slower than we write: frames wait in the session queue,
            # whose bound closes a client that cannot keep up.
            await flow.wait_writable()
        if self.outgoing is None:
            await self.send_frame(frame)
            return
        with self.outgoing.lifted_for(frame):
            await self.send_frame(frame)

    async def close_transport(self) -> None:
        """Close the websocket for the session (in a task of its own)."""
        try:
            await self.close()
        except Exception:  # already gone (uvicorn raises ClientDisconnected): nothing to close
            pass

    async def receive(self, frame: str | bytes) -> None:
        session = self.session or self.upgrading
        if session is None or session.closed:
            await self.close()
            return
        limit = session.inbound_limit
        if _frame_size(frame, limit) > limit:
            log_refused(session, f"frame of {_frame_size(frame, 0)} bytes", limit)
            session.close(CloseReason.PARSE_ERROR.value)
            await self.close()
            return
        try:
            packet = Packet.decode_websocket(frame)
        except ProtocolError as exc:
            logger.info("session %s: malformed frame (%s), closing", session.sid, exc)
            session.close(CloseReason.PARSE_ERROR.value)
            await self.close()
            return
        if self.upgrading is not None:
            await self.receive_during_upgrade(packet)
        else:
            await session.receive(packet)

    async def receive_during_upgrade(self, packet: Packet) -> None:
        session = self.upgrading
        try:
            if packet.type is PacketType.PING and packet.data == "probe":
                session.begin_upgrade(self.close_transport)
                await self.write("3probe")
            elif packet.type is PacketType.UPGRADE:
                session.complete_upgrade(self.writer(), self.close_transport, self.write_now(),
                                         message_limiter(self.base_send))
                self.session, self.upgrading = session, None
            else:
                raise IllegalTransition(f"unexpected {packet.type.name} during upgrade")
        except IllegalTransition as exc:
            logger.info("session %s: bad upgrade (%s)", session.sid, exc)
            session.abort_upgrade()
            self.upgrading = None
            await self.close()

    async def disconnect(self, code) -> None:
        session = self.session
        if session is not None and not session.closed and session.refused_by_transport():
            # The ASGI server refused a message over the limit set for it, and tells the
            # application no more than that the websocket is gone.
            log_refused(session, "a message", session.inbound_limit)
        if self.session is not None:
            self.session.close(CloseReason.CLIENT_CLOSE.value)
        elif self.upgrading is not None:
            self.upgrading.abort_upgrade()
