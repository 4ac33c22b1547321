"""Run an ASGI application under daphne from inside a management command."""

from __future__ import annotations


def serve(application, *, host: str, port: int) -> None:
    from daphne.server import Server

    Server(
        application=application,
        endpoints=[f"tcp:port={port}:interface={host}"],
        signal_handlers=True,
        # The gateway runs its own heartbeat; daphne's websocket pings would only add noise.
        ping_interval=3600,
        ping_timeout=3600,
        websocket_handshake_timeout=10,
    ).run()
