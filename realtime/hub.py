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
    def deliver(self, frame: str) -> bool:
        """Queue an encoded Engine.IO text frame for this client; must not block. Returns
        False when the frame is dropped (the client is closed, or too slow)."""


class Hub:
    def __init__(self, layer) -> None:
        self.layer = layer
        self.members: dict[str, set[Member]] = defaultdict(set)
        self.channel_name: str | None = None
        self._listener: asyncio.Task | None = None
        self._refresher: asyncio.Task | None = None
        self._group_lock = asyncio.Lock()
        self._start_lock = asyncio.Lock()
        # Counters of this process. A frame that does not reach a member is never dropped
        # silently: it is counted here and logged.
        self.delivered = 0
        #: Frames not queued for a member: its connection was closed or too slow.
        self.dropped_slow_client = 0
        #: Failed `receive()` calls on the channel layer (messages may have been lost).
        self.receive_failures = 0
        #: Channel-layer messages of an unknown type.
        self.ignored_messages = 0

    async def start(self) -> None:
        # Under a lock: two first joins at once must not create two process channels.
        async with self._start_lock:
            if self._listener is not None:
                return
            self.channel_name = await self.layer.new_channel("rt.process.")
            self._listener = asyncio.create_task(self._listen(), name="realtime-hub-listener")
            self._refresher = asyncio.create_task(self._refresh_groups(),
                                                  name="realtime-hub-refresh")

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
            try:
                async with self._group_lock:
                    await self.layer.group_add(group_name(room), self.channel_name)
            except BaseException:
                # Not in the group: forget the member, or the next join would skip group_add
                # and the room would never receive another process's events.
                local.discard(member)
                if not local:
                    self.members.pop(room, None)
                raise

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

    def counters(self) -> dict[str, int]:
        return {
            "delivered": self.delivered,
            "dropped_slow_client": self.dropped_slow_client,
            "receive_failures": self.receive_failures,
            "ignored_messages": self.ignored_messages,
        }

    def deliver_local(self, room: str, frame: str) -> int:
        """Hand `frame` to the local members of `room`; returns how many queued it."""
        members = self.members.get(room)
        if not members:
            return 0
        delivered = 0
        for member in tuple(members):
            if member.deliver(frame):
                delivered += 1
        dropped = len(members) - delivered
        self.delivered += delivered
        if dropped:
            self.dropped_slow_client += dropped
            logger.warning("hub dropped a frame of room %s for %d slow or closed client(s) "
                           "(%d dropped in this process)", room, dropped,
                           self.dropped_slow_client)
        return delivered

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            try:
                message = await self.layer.receive(self.channel_name)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis down: keep serving local clients, retry with backoff.
                self.receive_failures += 1
                logger.exception("channel layer receive failed (%d failures in this process); "
                                 "events may have been lost; retrying in %.1fs",
                                 self.receive_failures, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if message.get("type") == FRAME_MESSAGE_TYPE:
                try:
                    self.deliver_local(message["room"], message["frame"])
                except Exception:  # never let one bad message end the process's listener
                    self.ignored_messages += 1
                    logger.exception("hub could not deliver a message to room %r",
                                     message.get("room"))
            else:
                self.ignored_messages += 1
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
