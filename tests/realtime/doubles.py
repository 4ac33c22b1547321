"""Stand-ins for the layers around an Engine.IO session in unit tests."""

from __future__ import annotations


class QuietHandler:
    """A session handler (realtime.server.engine.session.SessionHandler) that ignores everything:
    for tests about the session's own queue, writes and timers."""

    def __init__(self, session) -> None:
        pass

    async def on_open(self) -> None:
        pass

    async def on_message(self, data) -> None:
        pass

    async def on_close(self, reason: str) -> None:
        pass
