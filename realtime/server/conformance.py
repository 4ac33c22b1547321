"""The protocol-conformance profile: the behaviour the official Engine.IO / Socket.IO test
suites expect of their reference server. Only `manage.py conformance_server` builds it;
vendhub.asgi never does, so it is unreachable in the product profile.
"""

from __future__ import annotations

from typing import Any

from .conf import RealtimeConfig
from .engine.session import EngineSession
from .sio import Namespace, Socket

CONFORMANCE_CONFIG = RealtimeConfig(
    ping_interval_ms=300,
    ping_timeout_ms=200,
    max_payload=1_000_000,
    connect_timeout_ms=1000,
    allowed_origins=("*",),
    # The reference server of the test suites runs without connection state recovery: its
    # CONNECT reply is exactly {"sid"}, its events carry no offset.
    recovery=False,
)


class EchoHandler:
    """Raw Engine.IO endpoint (/engine.io/): every message goes back as it came."""

    def __init__(self, session: EngineSession) -> None:
        self.session = session

    async def on_open(self) -> None:
        pass

    async def on_message(self, data: str | bytes) -> None:
        self.session.send_message(data)

    async def on_close(self, reason: str) -> None:
        pass


class ConformanceNamespace(Namespace):
    def __init__(self, name: str) -> None:
        self.name = name

    async def on_connect(self, socket: Socket, auth: dict | None) -> None:
        socket.data["auth"] = auth if auth is not None else {}

    async def after_connect(self, socket: Socket) -> None:
        socket.emit("auth", socket.data["auth"])

    async def on_message(self, socket: Socket, *args: Any) -> None:
        socket.emit("message-back", *args)

    async def on_message_with_ack(self, socket: Socket, *args: Any) -> tuple:
        return args

    async def on_emit_with_ack(self, socket: Socket, *args: Any) -> None:
        """Server-to-client acks, as the suites' newer revisions drive them: emit the
        arguments back with an ack id, then emit what the client acknowledged with."""
        answer = await socket.call("emit-with-ack", *args)
        socket.emit("emit-with-ack", *answer)


def conformance_namespaces() -> dict[str, Namespace]:
    return {name: ConformanceNamespace(name) for name in ("/", "/custom")}
