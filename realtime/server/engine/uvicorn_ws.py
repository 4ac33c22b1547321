"""uvicorn's websocket protocol (websockets-sansio) with an idle connection a few KB smaller.

Run uvicorn with `--ws realtime.server.engine.uvicorn_ws:WebSocketProtocol` instead of
`--ws websockets-sansio`. The protocol is uvicorn's own; only its receive queue and its
"writable" flag change. `asyncio.Queue` and `asyncio.Event` allocate their deques up front:
five per connection (the queue's items, getters, putters and `join` event, and the flag's
waiters), ~3.7 KB of an idle connection's memory that the gateway never uses while the
connection is idle (idle memory per connection). These allocate only while something
waits.

The gateway's websocket transport (realtime/server/engine/consumers.py) is the only receiver of a
connection's events, one `receive()` at a time, which is all `ReceiveQueue` supports.

The protocol also offers the gateway a direct writer (`send_frame_now`): a broadcast writes
each socket's frame synchronously, from wire bytes serialized once per broadcast.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, State
from websockets.streams import StreamReader

#: The text frames serialized for the wire lately, and their bytes, by the identity of the
#: `str`. A broadcast hands the same `str` object to each of a room's sockets in turn, so a
#: frame is serialized once per publish instead of once per socket (the fan-out went from
#: ~9 to ~6-7 µs of CPU per frame); a write batch (engine/batch.py) hands each socket the
#: frames of several publishes, hence a few entries. An entry keeps its `str` alive, so its
#: id cannot be reused while it is here.
_recent_text_frames: dict[int, tuple[str, bytes]] = {}
_RECENT_TEXT_FRAMES = 64


def wire_text_frame(text: str) -> bytes:
    """The bytes of a server-to-client websocket text frame carrying `text`: unmasked,
    uncompressed, unfragmented (websockets' own serializer, RFC 6455 section 5.2)."""
    found = _recent_text_frames.get(id(text))
    if found is not None and found[0] is text:
        return found[1]
    wire = Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])
    if len(_recent_text_frames) >= _RECENT_TEXT_FRAMES:
        _recent_text_frames.clear()  # atomic, whatever other threads' loops do meanwhile
    _recent_text_frames[id(text)] = (text, wire)
    return wire


class ReceiveQueue:
    """What uvicorn uses of `asyncio.Queue` (`put_nowait`, `get`, `empty`, `qsize`) for
    one receiver: unbounded, nothing allocated while empty."""

    __slots__ = ("_items", "_getter")

    def __init__(self) -> None:
        self._items: deque | None = None
        self._getter: asyncio.Future | None = None

    def put_nowait(self, item) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result(None)

    async def get(self):
        while not self._items:
            if self._getter is not None:
                raise RuntimeError("ReceiveQueue supports one receiver at a time")
            self._getter = asyncio.get_running_loop().create_future()
            try:
                await self._getter
            finally:
                self._getter = None
        items = self._items
        item = items.popleft()
        if not items:
            self._items = None
        return item

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items) if self._items else 0


class WritableFlag:
    """What uvicorn uses of `asyncio.Event` (`set`, `clear`, `is_set`, `wait`), with no
    list of waiters while nobody waits."""

    __slots__ = ("_value", "_waiters")

    def __init__(self) -> None:
        self._value = False
        self._waiters: list[asyncio.Future] | None = None

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        if self._value:
            return
        self._value = True
        waiters, self._waiters = self._waiters or (), None
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(True)

    def clear(self) -> None:
        self._value = False

    async def wait(self) -> bool:
        if self._value:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
            return True
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)


class WebSocketProtocol(WebSocketsSansIOProtocol):
    # Every attribute uvicorn's protocol sets (uvicorn 0.54) lives in a slot instead of the
    # instance's dict. It sets 37: past CPython's 30 shared keys per class, each instance
    # had a dict table of its own, ~1.5 KB of an idle connection (tracemalloc, bench/
    # experiments/idle_memory.py), against 8 bytes a slot. An attribute a later uvicorn
    # adds still works: it goes to the dict.
    __slots__ = (
        "app", "app_state", "asgi_version", "client", "close_sent", "close_timeout",
        "close_timer", "config", "conn", "connections", "curr_msg_data_type",
        "default_headers", "disconnected", "frames", "handshake_complete",
        "handshake_initiated", "initial_response", "last_ping_rtt", "logger", "loop",
        "pending_ping_payload", "ping_interval", "ping_sent_at", "ping_timeout", "ping_timer",
        "pong_timer", "queue", "read_paused", "request", "response", "root_path", "scheme",
        "scope", "server", "tasks", "transport", "writable",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Replaced before the connection is made: nothing has used uvicorn's yet.
        self.queue = ReceiveQueue()
        writable = WritableFlag()
        writable.set()
        self.writable = writable

    async def send(self, message) -> None:
        await super().send(message)
        if self.handshake_complete and self.response is not None:
            # The handshake's response (and uvicorn's reference to its request) are not
            # read again once it is sent: ~0.5 KB of headers per idle connection.
            self.response = self.request = None
            self._forget_handshake_parser()

    def _forget_handshake_parser(self) -> None:
        """Restart websockets' frame parser without the handshake's frame. Its parser is a
        generator that parsed the HTTP request, then delegates to the frame loop for the
        rest of the connection, so the request (and its parsed headers) stayed alive as a
        local of the suspended generator: ~1.6 KB of an idle connection (tracemalloc).
        Swapped only while the parser waits between frames with nothing buffered
        (innermost delegate: `StreamReader.at_eof`), where a fresh frame loop waits in
        the same place; mid-frame, it is left as it is. websockets swaps its own parser
        the same way when a connection closes (`discard`)."""
        conn = self.conn
        waiting = conn.parser
        while getattr(waiting, "gi_yieldfrom", None) is not None:
            waiting = waiting.gi_yieldfrom
        # Anything else (another websockets' parser) is left as it is.
        if conn.state is not State.OPEN or getattr(waiting, "gi_code", None) is not _AT_EOF:
            return
        handshake_parser, conn.parser = conn.parser, Protocol.parse(conn)
        next(conn.parser)  # to its first wait for data, as websockets starts it
        handshake_parser.close()

    def send_frame_now(self, frame: str | bytes | list) -> bool:
        """Write one websocket data frame now, in the caller's stack, as `send` does for a
        `websocket.send` message, but with no coroutine to create and step: a broadcast
        writes one frame to each of thousands of sockets, and stepping `send` cost ~15 % of
        the fan-out (bench/ fan-out). A text frame on a connection without extensions (no
        permessage-deflate) is written from bytes serialized once per broadcast
        (`wire_text_frame`). A list of frames (a write batch, engine/batch.py) is written
        with one call to the transport. Returns False, having written nothing, when the
        frame must go through `send` instead: the transport pushes back, or the connection
        is not open. Raises what the websockets protocol raises for a connection it
        considers closed."""
        if (not self.writable.is_set() or self.disconnected or not self.handshake_complete
                or self.close_sent or self.initial_response is not None):
            return False
        conn = self.conn
        plain = (not conn.extensions and not conn.writes and conn.state is State.OPEN
                 and not conn.expect_continuation_frame and not conn.debug)
        if isinstance(frame, str):
            if plain:
                # What `conn.send_text` would append to `conn.writes`, byte for byte.
                self.transport.write(wire_text_frame(frame))
                return True
            conn.send_text(frame.encode())
        elif isinstance(frame, list):
            if not plain:
                return False
            self.transport.write(b"".join([
                wire_text_frame(item) if isinstance(item, str) else self._binary_wire(item)
                for item in frame]))
            return True
        else:
            conn.send_binary(frame)
        self.transport.write(b"".join(conn.data_to_send()))
        return True

    def _binary_wire(self, data: bytes) -> bytes:
        self.conn.send_binary(data)
        return b"".join(self.conn.data_to_send())


_AT_EOF = StreamReader.at_eof.__code__


def direct_frame_writer(send) -> Callable[[str | bytes], bool] | None:
    """`WebSocketProtocol.send_frame_now` of the connection whose ASGI `send` this is, or None
    when the server is another one (daphne, stock uvicorn): the ASGI `send` that uvicorn
    hands to the application is the protocol's bound `send` method."""
    protocol = getattr(send, "__self__", None)
    return protocol.send_frame_now if isinstance(protocol, WebSocketProtocol) else None
