"""The per-process hub: one channel-layer channel per process, local fan-out of frames
encoded once, and counted (never silent) drops."""

from __future__ import annotations

import asyncio
import logging

import pytest
from channels.layers import InMemoryChannelLayer

from realtime.rooms import group_name
from realtime.server.conf import RealtimeConfig
from realtime.server.engine.server import EngineServer
from realtime.server.engine.session import Transport
from realtime.server.hub import CONTROL_GROUP, FRAME_MESSAGE_TYPE, Hub
from tests.realtime.doubles import QuietHandler


class Member:
    def __init__(self, accept: bool = True) -> None:
        self.frames: list[str] = []
        self.accept = accept

    def deliver(self, frame: str) -> bool:
        if self.accept:
            self.frames.append(frame)
        return self.accept


class SessionMember:
    """A member backed by a real Engine.IO session (what a Socket does)."""

    def __init__(self, session) -> None:
        self.session = session

    def deliver(self, frame: str) -> bool:
        return self.session.enqueue(frame)


@pytest.fixture
async def make_hub():
    """Hubs made with `make_hub(layer=None, **options)`, stopped after the test."""
    hubs = []

    def make(layer=None, **options) -> Hub:
        hubs.append(Hub(layer if layer is not None else InMemoryChannelLayer(),
                        group_name=group_name, **options))
        return hubs[-1]

    yield make
    for hub in hubs:
        await hub.stop()


@pytest.fixture
async def hub(make_hub):
    return make_hub()


async def eventually(predicate, timeout: float = 1.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_one_publish_reaches_every_local_member_once(hub):
    first, second, elsewhere = Member(), Member(), Member()
    await hub.join(first, "org:a")
    await hub.join(second, "org:a")
    await hub.join(elsewhere, "org:b")
    await hub.publish("org:a", '42["e",1]')
    await eventually(lambda: first.frames and second.frames)
    assert first.frames == second.frames == ['42["e",1]']
    assert elsewhere.frames == []
    assert hub.counters()["delivered"] == 2


async def test_the_process_channel_joins_each_group_once(hub):
    await hub.join(Member(), "org:a")
    await hub.join(Member(), "org:a")
    assert hub.layer.groups[group_name("org:a")].keys() == {hub.channel_name}


async def test_last_member_leaving_leaves_the_group(hub):
    first, second = Member(), Member()
    await hub.join(first, "org:a")
    await hub.join(second, "org:a")
    await hub.leave(first, "org:a")
    assert hub.channel_name in hub.layer.groups[group_name("org:a")]
    await hub.leave(second, "org:a")
    assert hub.channel_name not in hub.layer.groups.get(group_name("org:a"), {})
    assert "org:a" not in hub.members


class CountingLayer(InMemoryChannelLayer):
    """Counts the group operations of rooms that cost a Redis round trip with channels_redis
    (not the control group, which the process joins once at start)."""

    def __init__(self) -> None:
        super().__init__()
        self.adds = self.discards = 0

    async def group_add(self, group, channel):
        self.adds += group != CONTROL_GROUP
        await super().group_add(group, channel)

    async def group_discard(self, group, channel):
        self.discards += 1
        await super().group_discard(group, channel)


async def test_a_member_back_within_the_linger_rejoins_without_touching_the_group(make_hub):
    layer = CountingLayer()
    hub = make_hub(layer, room_linger_ms=60_000)
    first, back = Member(), Member()
    await hub.join(first, "user:1")
    await hub.leave(first, "user:1")
    assert "user:1" not in hub.members
    assert hub.channel_name in layer.groups[group_name("user:1")]  # still subscribed
    assert hub.stats()["lingering_rooms"] == 1
    await hub.join(back, "user:1")
    assert (layer.adds, layer.discards) == (1, 0)
    assert hub.stats()["lingering_rooms"] == 0
    await hub.publish("user:1", '42["e"]')
    await eventually(lambda: back.frames)
    assert back.frames == ['42["e"]'] and first.frames == []


async def test_a_lingering_room_leaves_its_group_when_the_linger_is_over(make_hub):
    layer = CountingLayer()
    hub = make_hub(layer, room_linger_ms=50)
    member = Member()
    for room in ("user:1", "user:2"):
        await hub.join(member, room)
        await hub.leave(member, room)
    await eventually(lambda: layer.discards == 2)
    assert not layer.groups.get(group_name("user:1")) and not layer.groups.get(
        group_name("user:2"))
    assert hub.stats()["lingering_rooms"] == 0
    await hub.join(member, "user:1")  # a new join after the linger joins the group again
    assert layer.adds == 3
    assert hub.channel_name in layer.groups[group_name("user:1")]


async def test_events_of_a_lingering_room_reach_nobody(make_hub):
    hub = make_hub(room_linger_ms=60_000)
    member = Member()
    await hub.join(member, "org:a")
    await hub.leave(member, "org:a")
    await hub.publish("org:a", '42["e"]')
    await hub.publish("org:a", '42["marker"]')
    await asyncio.sleep(0.1)
    assert member.frames == [] and hub.counters()["delivered"] == 0


async def test_concurrent_first_joins_share_one_process_channel(hub):
    await asyncio.gather(*(hub.join(Member(), f"org:{n}") for n in range(5)))
    channels = {channel for group in hub.layer.groups.values() for channel in group}
    assert channels == {hub.channel_name}


async def test_frames_refused_by_members_are_counted_and_logged(hub, caplog):
    ok, slow = Member(), Member(accept=False)
    await hub.join(ok, "org:a")
    await hub.join(slow, "org:a")
    with caplog.at_level(logging.WARNING, logger="realtime.server.hub"):
        assert hub.deliver_local("org:a", "42[1]") == 1
    assert hub.counters() == {"delivered": 1, "dropped_slow_client": 1, "receive_failures": 0,
                              "ignored_messages": 0}
    assert "hub dropped a frame of room org:a for 1 slow or closed client" in caplog.text


async def test_a_slow_client_is_closed_and_its_frames_counted_as_dropped(hub, caplog):
    server = EngineServer(config=RealtimeConfig(max_queued_frames=3), handler_factory=QuietHandler)
    session = await server.open(Transport.POLLING, {})
    member = SessionMember(session)
    await hub.join(member, "machine:m")
    with caplog.at_level(logging.WARNING):
        for n in range(5):
            hub.deliver_local("machine:m", f"42[{n}]")
    assert session.closed and session.close_reason == "slow client"
    assert hub.delivered == 3
    assert hub.dropped_slow_client == 2
    assert "closing slow client" in caplog.text


async def test_channel_layer_receive_failures_are_counted_and_the_listener_survives(caplog):
    class FlakyLayer(InMemoryChannelLayer):
        failures = 2

        async def receive(self, channel):
            if self.failures:
                self.failures -= 1
                raise ConnectionError("redis went away")
            return await super().receive(channel)

    hub = Hub(FlakyLayer(), group_name=group_name)
    member = Member()
    try:
        with caplog.at_level(logging.ERROR, logger="realtime.server.hub"):
            await hub.join(member, "org:a")
            await hub.publish("org:a", '42["after"]')
            await eventually(lambda: '42["after"]' in member.frames, timeout=3)
        # Each time the layer answers again, the member is told that events may be lost.
        resync = '42["resync",{"reason":"redis-reconnected"}]'
        assert member.frames == [resync, resync, '42["after"]']
        assert hub.receive_failures == 2
        assert hub.layer_recoveries == 2
        assert "channel layer receive failed (1 failures in this process)" in caplog.text
    finally:
        await hub.stop()


async def test_unknown_messages_are_counted(hub, caplog):
    await hub.join(Member(), "org:a")
    with caplog.at_level(logging.WARNING, logger="realtime.server.hub"):
        await hub.layer.group_send(group_name("org:a"), {"type": "something.else"})
        await eventually(lambda: hub.ignored_messages == 1)
    assert "hub ignored a message of type 'something.else'" in caplog.text


async def test_a_bad_message_does_not_stop_the_listener(hub):
    member = Member()
    await hub.join(member, "org:a")
    await hub.layer.group_send(group_name("org:a"), {"type": FRAME_MESSAGE_TYPE})  # no room
    await hub.publish("org:a", '42["next"]')
    await eventually(lambda: member.frames)
    assert member.frames == ['42["next"]']


async def test_a_failed_group_add_does_not_leave_a_half_joined_room(hub):
    class FailingOnce(InMemoryChannelLayer):
        fail = True

        async def group_add(self, group, channel):
            if self.fail:
                self.fail = False
                raise ConnectionError("redis went away")
            await super().group_add(group, channel)

    hub.layer = FailingOnce()
    first, second = Member(), Member()
    with pytest.raises(ConnectionError):
        await hub.join(first, "org:a")
    assert "org:a" not in hub.members
    await hub.join(second, "org:a")  # retries group_add
    await hub.publish("org:a", '42["x"]')
    await eventually(lambda: second.frames)
    assert first.frames == []


async def test_a_control_message_reaches_the_handler_of_its_kind_in_every_process(make_hub):
    """Two hubs on one layer stand for two processes: each gets the message once, and a
    message of a kind nobody handles is counted, not fatal."""
    layer = InMemoryChannelLayer()
    first, second = make_hub(layer), make_hub(layer)
    seen: list[tuple[str, object]] = []
    for name, hub in (("first", first), ("second", second)):
        hub.on_control("viewers-changed", lambda data, name=name: seen.append((name, data)))
        await hub.start()
    await layer.group_send(CONTROL_GROUP, {"type": "rt.control", "kind": "unknown", "data": 1})
    await layer.group_send(CONTROL_GROUP, {"type": "rt.control", "kind": "viewers-changed",
                                           "data": {"userIds": [7]}})
    await eventually(lambda: len(seen) == 2)
    assert sorted(seen) == [("first", {"userIds": [7]}), ("second", {"userIds": [7]})]
    assert first.ignored_messages == second.ignored_messages == 1
