"""What keeps an idle connection small: one expiry timer for all sockets, viewers
that share their organization sets, no inbox or finished worker task kept by an idle
connection, and websocket routing without a copy of the scope nor a coroutine frame of
its own."""

from __future__ import annotations

import asyncio
import time

import pytest

from realtime.authorization import load_viewers
from realtime.namespaces import ExpiryClock, _shared
from realtime.server.routing import ProtocolRouter, WebSocketPaths
from realtime.server.sio.connection import SocketIOConnection


class Named:
    def __init__(self, sid: str) -> None:
        self.sid = sid


async def test_sockets_expiring_in_the_same_second_share_one_timer():
    expired: list[str] = []
    clock = ExpiryClock(lambda socket: expired.append(socket.sid))
    later = time.time() + 3600
    first, second, third = Named("first"), Named("second"), Named("third")
    for socket in (first, second, third):
        clock.arm(socket, later)
    assert len(clock._due) == 1
    timer = clock._timer
    clock.arm(Named("much later"), later + 60)
    assert clock._timer is timer  # still armed for the earliest second only
    clock._timer.cancel()


async def test_expired_sockets_are_expired_once_and_disarmed_ones_not_at_all():
    expired: list[str] = []
    done = asyncio.Event()
    clock = ExpiryClock(lambda socket: (expired.append(socket.sid), done.set()))
    now = time.time()
    leaving, staying, refreshed = Named("leaving"), Named("staying"), Named("refreshed")
    left_at = clock.arm(leaving, now - 1)
    clock.arm(staying, now - 1)
    old = clock.arm(refreshed, now - 1)
    clock.arm(refreshed, now + 3600, previous=old)  # `auth:refresh`
    clock.disarm(leaving, left_at)  # disconnected before its token expired
    await asyncio.wait_for(done.wait(), 5)
    assert expired == ["staying"]
    assert clock._timer is not None  # now armed for the refreshed socket
    clock._timer.cancel()


async def test_a_late_arm_for_an_earlier_second_rearms_the_timer():
    expired: list[str] = []
    done = asyncio.Event()
    clock = ExpiryClock(lambda socket: (expired.append(socket.sid), done.set()))
    clock.arm(Named("late"), time.time() + 3600)
    clock.arm(Named("early"), time.time() - 1)
    await asyncio.wait_for(done.wait(), 5)
    assert expired == ["early"]
    clock._timer.cancel()


@pytest.mark.django_db
def test_viewers_of_one_organization_share_its_sets():
    from machines.models import Role
    from tests.factories import make_organization, make_user

    acme = make_organization("Acme")
    one = make_user("one", organization=acme, role=Role.OPERATOR)
    two = make_user("two", organization=acme, role=Role.VIEWER)
    viewers = load_viewers([one.pk, two.pk])
    assert viewers[one.pk].organization_ids == {str(acme.pk)}
    assert viewers[one.pk].organization_ids is viewers[two.pk].organization_ids
    assert viewers[one.pk].managed_organization_ids is viewers[two.pk].managed_organization_ids
    assert not hasattr(viewers[one.pk], "__dict__")


class Engine:
    """What a SocketIOConnection uses of its Engine.IO session, to watch its inbox."""

    sid = "engine"
    closed = False
    close_reason = None

    def __init__(self) -> None:
        from types import SimpleNamespace

        from realtime.server.conf import RealtimeConfig
        from realtime.server.protocol.socketio_decoder import ByteBudget

        self.config = RealtimeConfig()
        self.server = SimpleNamespace(attachment_budget=ByteBudget(0))
        self.sent: list = []

    def send_message(self, part) -> None:
        self.sent.append(part)

    def limit_inbound(self, size: int) -> None:
        pass

    def trust(self) -> None:
        pass

    def close(self, reason: str) -> None:
        self.closed = True


async def test_an_idle_connection_keeps_no_inbox_nor_finished_worker():
    from realtime.server.sio import Namespace

    connection = SocketIOConnection(Engine(), {"/": Namespace()})
    assert connection._inbox is None and connection._worker is None
    await connection.on_message("0")
    await connection.on_message('2["unknown",1]')
    worker = connection._worker
    assert worker is not None
    await worker
    assert connection.engine.sent[0].startswith('0{"sid":')
    assert connection._inbox is None and connection._worker is None
    await connection.on_message('2["unknown",2]')  # a later packet gets a new worker
    await connection._worker
    assert connection._inbox is None and connection._worker is None
    await connection.on_close("transport close")
    assert connection.sockets == {}


async def test_websocket_paths_route_by_exact_path_without_copying_the_scope():
    seen: list[dict] = []

    async def endpoint(scope, receive, send):
        seen.append(scope)

    class Route:
        pattern = "socket.io/"
        callback = staticmethod(endpoint)

    router = ProtocolRouter({"websocket": WebSocketPaths([Route()])})
    scope = {"type": "websocket", "path": "/socket.io/"}
    await router(scope, None, None)
    assert seen == [scope] and seen[0] is scope
    await router({"type": "websocket", "path": "/api/socket.io/", "root_path": "/api"},
                 None, None)
    assert len(seen) == 2
    for path in ("/engine.io/", "/socket.io", "/socket.io/x"):
        with pytest.raises(ValueError, match="No route found"):
            await router({"type": "websocket", "path": path}, None, None)
    with pytest.raises(ValueError, match="No route found"):
        await router({"type": "websocket", "path": "/socket.io/", "root_path": "/api"},
                     None, None)


def test_subscriptions_to_the_same_rooms_share_one_tuple_of_names():
    org = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    first = _shared([f"map:{org}"])
    second = _shared(["map:" + org])
    assert first == ("map:" + org,)
    assert first is second and first[0] is second[0]


async def test_a_room_of_one_local_member_keeps_no_set_until_a_second_joins():
    from channels.layers import InMemoryChannelLayer

    from realtime.rooms import group_name
    from realtime.server.hub import Hub, OnlyMember

    frames: list[tuple[str, str]] = []

    class Member(Named):
        def deliver(self, frame: str) -> bool:
            frames.append((self.sid, frame))
            return True

    hub = Hub(InMemoryChannelLayer(), group_name=group_name)
    first, second = Member("first"), Member("second")
    try:
        await hub.join(first, "user:1")
        await hub.join(first, "user:1")
        assert isinstance(hub.members["user:1"], OnlyMember)
        assert hub.deliver_local("user:1", "42[]") == 1
        await hub.join(second, "user:1")
        assert hub.members["user:1"] == {first, second}
        await hub.leave(first, "user:1")
        await hub.leave(first, "user:1")
        assert list(hub.members["user:1"]) == [second]
        await hub.leave(second, "user:1")
        assert "user:1" not in hub.members
        assert hub.deliver_local("user:1", "42[]") == 0
        assert frames == [("first", "42[]")]
    finally:
        await hub.stop()


async def test_the_protocol_router_hands_over_the_routed_awaitable_and_is_an_asgi3_app():
    from asgiref.compatibility import is_double_callable
    from uvicorn._compat import iscoroutinefunction

    async def websocket(scope, receive, send):
        return "routed"

    router = ProtocolRouter({"websocket": websocket})
    awaitable = router({"type": "websocket"}, None, None)
    assert awaitable.cr_code is websocket.__code__  # no frame of the router's own
    assert await awaitable == "routed"
    # What uvicorn and daphne (asgiref) look at to call it as ASGI 3, not ASGI 2.
    assert iscoroutinefunction(router.__call__) and not is_double_callable(router)
    with pytest.raises(ValueError, match="No application configured for scope type 'http'"):
        router({"type": "http"}, None, None)
