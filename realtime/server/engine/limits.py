"""The ASGI server's own limit on one incoming websocket message, per connection.

Daphne (autobahn) and uvicorn (websockets) read a whole websocket message into memory before
the application sees it, up to a limit set once for the server (daphne: 1 MiB; uvicorn
`--ws-max-size`: 16 MiB by default). A client that has not authenticated has nothing larger
than a Socket.IO CONNECT to send, so the gateway lowers that limit for its connection until
it has connected a namespace: a larger frame is then refused by the server as soon as its
header announces the length (close code 1009), before a byte of it is buffered. Both
servers read the limit from the connection's protocol object at every frame, so changing it
there takes effect at the next frame. Neither exposes this through ASGI, hence the small
adapter per server; under another server the gateway's own check (realtime/server/engine/
consumers.py) still refuses the frame, after the server buffered it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: The websocket close code of a message over the receiver's limit (RFC 6455, 7.4.1).
MESSAGE_TOO_BIG = 1009


class MessageLimit:
    """The message limit of one websocket, as its server's protocol object holds it."""

    __slots__ = ("_owner", "_attribute", "_configured", "_unlimited", "_refused")

    def __init__(self, owner: object, attribute: str, configured: int | None,
                 unlimited: int | None, refused: Callable[[], bool]) -> None:
        self._owner = owner
        self._attribute = attribute
        self._configured = configured
        self._unlimited = unlimited
        self._refused = refused

    def set(self, size: int | None) -> None:
        """Refuse messages over `size` bytes (never more than the server's own limit);
        None restores the server's own limit."""
        configured = self._configured
        if size is None or (configured != self._unlimited and size >= configured):
            setattr(self._owner, self._attribute, configured)
        else:
            setattr(self._owner, self._attribute, size)

    @contextmanager
    def lifted_for(self, frame: str | bytes) -> Iterator[None]:
        """Let the server send `frame` whatever the limit. Autobahn (daphne) applies its one
        message limit to what it sends as well as to what it receives, so a frame larger
        than 1 MiB (the live-map snapshot of a fleet of ~8,000 machines) failed to send and
        closed the session. Daphne writes the frame synchronously inside `send`, before any
        incoming data is read, so no client message can pass under the lifted limit.
        Websockets (uvicorn) limits only what it receives: nothing to lift there."""
        current = getattr(self._owner, self._attribute)
        if (self._unlimited is None or current == self._unlimited
                or len(frame) * 4 <= current):  # UTF-8: at most 4 bytes a character
            yield
            return
        setattr(self._owner, self._attribute, self._unlimited)
        try:
            yield
        finally:
            setattr(self._owner, self._attribute, current)

    def refused(self) -> bool:
        """True once the server closed the websocket for a message over the limit."""
        return self._refused()


def message_limiter(send) -> MessageLimit | None:
    """The message limit of the websocket whose ASGI `send` this is, or None when the server
    is not one this module knows."""
    # daphne: `send` is functools.partial(server.handle_reply, protocol), and the protocol
    # is autobahn's WebSocketServerProtocol, which copied the limit from its factory.
    if isinstance(send, functools.partial) and send.args:
        protocol = send.args[0]
        configured = getattr(getattr(protocol, "factory", None), "maxMessagePayloadSize", None)
        if isinstance(configured, int):
            return MessageLimit(protocol, "maxMessagePayloadSize", configured, 0, lambda: bool(
                getattr(protocol, "wasMaxMessagePayloadSizeExceeded", False)
                or getattr(protocol, "wasMaxFramePayloadSizeExceeded", False)))
    # uvicorn (websockets-sansio, or realtime.server.engine.uvicorn_ws): `send` is the protocol's
    # bound method, `conn` its websockets ServerProtocol, `config` uvicorn's Config.
    protocol = getattr(send, "__self__", None)
    conn = getattr(protocol, "conn", None)
    if hasattr(conn, "max_message_size") and hasattr(protocol, "config"):
        return MessageLimit(conn, "max_message_size", protocol.config.ws_max_size, None,
                            lambda: getattr(conn.close_sent, "code", None) == MESSAGE_TOO_BIG)
    return None
