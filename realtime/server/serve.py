"""Run an ASGI application under daphne from inside a management command."""

from __future__ import annotations

from collections.abc import Callable


def serve(application, *, host: str, port: int, on_ready: Callable[[], None] | None = None,
          max_message_size: int = 1024 * 1024) -> None:
    """Serve until SIGINT/SIGTERM. `on_ready` runs on the server's event loop once listening."""
    from daphne.server import Server

    Server(
        application=application,
        endpoints=[f"tcp:port={port}:interface={host}"],
        signal_handlers=True,
        # The gateway runs its own Engine.IO heartbeat; daphne's protocol-level pings
        # would only add traffic.
        ping_interval=3600,
        ping_timeout=3600,
        websocket_handshake_timeout=10,
        websocket_max_message_size=max_message_size,
        ready_callable=on_ready,
    ).run()
