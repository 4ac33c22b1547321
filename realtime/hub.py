"""Per-process room membership and fan-out.

Rooms are a data structure; the channel layer is only the cross-process transport. Each
server process listens on ONE channel-layer channel and adds it to the group of every room
that has at least one local member. A published event travels once per process (already
encoded as an Engine.IO frame), and the hub hands the same frame to each local member.
This replaces the textbook "one channel, one queue and one msgpack decode per consumer"
path, which costs ~35x in fan-out (see issue 6 and README).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import defaultdict
from typing import Protocol

from channels.layers import get_channel_layer

from .rooms import group_name

logger = logging.getLogger(__name__)

FRAME_MESSAGE_TYPE = "rt.frame"
#: channels_redis forgets group membership after `group_expiry` (default one day); re-add
#: every local room well before that.
GROUP_REFRESH_SECONDS = 3600


class Member(Protocol):
    def deliver(self, frame: str) -> None:
        """Queue an encoded Engine.IO text frame for this client; must not block."""


class Hub:
    def __init__(self, layer) -> None:
        self.layer = layer
        self.members: dict[str, set[Member]] = defaultdict(set)
        self.channel_name: str | None = None
        self._listener: asyncio.Task | None = None
        self._refresher: asyncio.Task | None = None
        self._group_lock = asyncio.Lock()
        self.delivered = 0

    async def start(self) -> None:
        if self._listener is not None:
            return
        self.channel_name = await self.layer.new_channel("rt.process.")
        self._listener = asyncio.create_task(self._listen(), name="realtime-hub-listener")
        self._refresher = asyncio.create_task(self._refresh_groups(), name="realtime-hub-refresh")

    async def stop(self) -> None:
        for task in (self._listener, self._refresher):
            if task is not None:
                task.cancel()
        self._listener = self._refresher = None

    async def join(self, member: Member, room: str) -> None:
        await self.start()
        local = self.members[room]
        if member in local:
            return
        local.add(member)
        if len(local) == 1:
            async with self._group_lock:
                await self.layer.group_add(group_name(room), self.channel_name)

    async def leave(self, member: Member, room: str) -> None:
        local = self.members.get(room)
        if not local or member not in local:
            return
        local.discard(member)
        if not local:
            del self.members[room]
            async with self._group_lock:
                if room not in self.members:
                    await self.layer.group_discard(group_name(room), self.channel_name)

    async def publish(self, room: str, frame: str) -> None:
        """Send an encoded frame to every member of `room`, in every process."""
        await self.layer.group_send(
            group_name(room), {"type": FRAME_MESSAGE_TYPE, "room": room, "frame": frame}
        )

    def deliver_local(self, room: str, frame: str) -> int:
        members = self.members.get(room)
        if not members:
            return 0
        for member in tuple(members):
            member.deliver(frame)
        self.delivered += len(members)
        return len(members)

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            try:
                message = await self.layer.receive(self.channel_name)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis down: keep serving local clients, retry with backoff.
                logger.exception("channel layer receive failed; retrying in %.1fs", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if message.get("type") == FRAME_MESSAGE_TYPE:
                self.deliver_local(message["room"], message["frame"])
            else:
                logger.warning("hub ignored a message of type %r", message.get("type"))

    async def _refresh_groups(self) -> None:
        while True:
            await asyncio.sleep(GROUP_REFRESH_SECONDS)
            for room in tuple(self.members):
                try:
                    await self.layer.group_add(group_name(room), self.channel_name)
                except Exception:
                    logger.exception("could not refresh group of room %s", room)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def get_hub() -> Hub:
    """The hub of the running event loop (one per server process; tests may run several loops)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub(get_channel_layer())
    return hub
