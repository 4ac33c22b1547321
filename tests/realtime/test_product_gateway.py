"""The product profile end to end: a real server process on the test database and Redis,
raw Socket.IO frames, events published from the test process through realtime.broadcast."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from realtime.events import AUTH_EXPIRED, DIRECT_EVENT_SCHEMAS
from realtime.rooms import map_room, organization_room, tasks_room, user_room
from tests.realtime.conftest import expired_token_for, token_for
from tests.realtime.product import connect_error, publish, raw_client
from tests.realtime.test_events import assert_matches
from tests.realtime.wire import engine_websocket, recv_skipping_pings

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


def subscribed(room: str) -> dict:
    return {"event": "subscribed", "data": {"room": room}}


# -- authentication ---------------------------------------------------------------------------


async def test_connect_with_a_token_in_the_auth_payload(gateway):
    async with raw_client(gateway, gateway.tokens["operator"]) as client:
        room = f"machine:{gateway.people.machine.id}"
        assert await client.subscribe(room) == subscribed(room)


async def test_connect_with_a_bearer_header(gateway):
    headers = {"Authorization": f"Bearer {gateway.tokens['viewer']}"}
    async with raw_client(gateway, None, headers=headers) as client:
        assert (await client.subscribe("machines:all")) == subscribed("machines:all")


async def test_a_token_in_the_query_string_does_not_authenticate(gateway):
    # URLs end up in access logs: a token there is refused like no token at all.
    error = await connect_error(gateway, "40", query=f"&token={gateway.tokens['viewer']}")
    assert error == {"message": "Authentication required: send an access token as auth.token"}


async def test_missing_token_is_refused_with_a_clear_message(gateway):
    error = await connect_error(gateway, "40")
    assert error == {"message": "Authentication required: send an access token as auth.token"}


@pytest.mark.parametrize("token", ["garbage", "a.b.c", ""])
async def test_invalid_token_is_refused(gateway, token):
    packet = "40" if token == "" else f'40{{"token":"{token}"}}'
    error = await connect_error(gateway, packet)
    assert error["message"].startswith(("Invalid token", "Authentication required")), error


async def test_expired_token_is_refused(gateway):
    expired = expired_token_for(gateway.people.operator)
    error = await connect_error(gateway, f'40{{"token":"{expired}"}}')
    assert error["message"].startswith("Invalid token")
    assert "expired" in error["message"].lower()


async def test_invalid_bearer_header_is_refused(gateway):
    error = await connect_error(gateway, "40", headers={"Authorization": "Bearer nope"})
    assert error["message"].startswith("Invalid token")


async def test_nothing_is_processed_before_authentication(gateway):
    machine_room = f"machine:{gateway.people.machine.id}"
    async with engine_websocket(gateway.url) as (ws, _):
        await ws.send(f'420["subscribe",{{"room":"{machine_room}"}}]')
        await ws.send('40{"token":"garbage"}')
        assert (await recv_skipping_pings(ws)).startswith('44{"message":"Invalid token')
        await ws.send(f'421["subscribe",{{"room":"{machine_room}"}}]')
        await publish(machine_room, "test:event", {"n": 1})
        with pytest.raises(TimeoutError):
            frame = await recv_skipping_pings(ws, 0.7)
            pytest.fail(f"unauthenticated connection got {frame!r}")


async def test_a_refused_connection_may_retry_with_a_good_token(gateway):
    async with engine_websocket(gateway.url) as (ws, _):
        await ws.send('40{"token":"garbage"}')
        assert (await recv_skipping_pings(ws)).startswith("44")
        await ws.send(f'40{{"token":"{gateway.tokens["viewer"]}"}}')
        assert (await recv_skipping_pings(ws)).startswith('40{"sid":')


async def test_socket_is_disconnected_when_its_token_expires(gateway):
    token = token_for(gateway.people.operator, lifetime=timedelta(seconds=2))
    async with raw_client(gateway, token) as client:
        assert (await client.recv(4)) == (
            '42["auth:expired",{"message":"Access token expired: reconnect with a new one"}]'
        )
        assert await client.recv(1) == "41"
        assert_matches({"message": "Access token expired: reconnect with a new one"},
                       DIRECT_EVENT_SCHEMAS[AUTH_EXPIRED])
        await client.ws.send('420["subscribe",{"room":"machines:all"}]')
        with pytest.raises(TimeoutError):
            await client.recv(0.5)


async def test_a_refreshed_token_keeps_the_socket(gateway):
    token = token_for(gateway.people.operator, lifetime=timedelta(seconds=2))
    async with raw_client(gateway, token) as client:
        (answer,) = await client.call("auth:refresh", {"token": gateway.tokens["operator"]})
        assert answer["event"] == "auth:refreshed"
        await client.assert_no_event(2.5)
        room = f"machine:{gateway.people.machine.id}"
        assert await client.subscribe(room) == subscribed(room)


async def test_refresh_with_another_users_token_is_refused(gateway):
    async with raw_client(gateway, gateway.tokens["operator"]) as client:
        (answer,) = await client.call("auth:refresh", {"token": gateway.tokens["manager"]})
        assert answer == {"event": "error", "data": {"request": "auth:refresh",
                                                     "message": "token is for another user"}}
        (answer,) = await client.call("auth:refresh", {"token": "garbage"})
        assert answer["event"] == "error"


# -- rooms and events --------------------------------------------------------------------------


async def test_every_room_kind_delivers_its_events(gateway):
    people = gateway.people
    manager_rooms = {
        f"machine:{people.machine.id}": f"machine:{people.machine.id}",
        "machines:all": map_room(people.acme.id),
        f"user:{people.manager.id}": user_room(people.manager.id),
        f"org:{people.acme.id}": organization_room(people.acme.id),
        f"tasks:{people.manager.id}": tasks_room(people.manager.id, people.acme.id),
        f"tasks:{people.operator.id}": tasks_room(people.operator.id, people.acme.id),
    }
    async with raw_client(gateway, gateway.tokens["manager"]) as client:
        for public in manager_rooms:
            assert await client.subscribe(public) == subscribed(public)
        for number, internal in enumerate(manager_rooms.values()):
            await publish(internal, "test:event", {"room": internal, "n": number})
            assert await client.next_event() == ["test:event", {"room": internal, "n": number}]


async def test_subscribe_is_idempotent_and_unsubscribe_stops_events(gateway):
    room = f"machine:{gateway.people.machine.id}"
    async with raw_client(gateway, gateway.tokens["operator"]) as client:
        assert await client.subscribe(room) == subscribed(room)
        assert await client.subscribe(room) == subscribed(room)
        await publish(room, "test:event", 1)
        assert await client.next_event() == ["test:event", 1]
        await client.assert_no_event(0.3)  # one subscription, one delivery
        assert await client.unsubscribe(room) == {"event": "unsubscribed", "data": {"room": room}}
        await publish(room, "test:event", 2)
        await client.assert_no_event()


async def test_live_map_is_per_organization(gateway):
    people = gateway.people
    async with raw_client(gateway, gateway.tokens["viewer"]) as acme, \
            raw_client(gateway, gateway.tokens["stranger"]) as rival:
        assert await acme.subscribe("machines:all") == subscribed("machines:all")
        assert await rival.subscribe("machines:all") == subscribed("machines:all")
        await publish(map_room(people.rival.id), "machine:status", {"who": "rival"})
        await publish(map_room(people.acme.id), "machine:status", {"who": "acme"})
        assert await acme.next_event() == ["machine:status", {"who": "acme"}]
        assert await rival.next_event() == ["machine:status", {"who": "rival"}]
        await acme.assert_no_event(0.3)
        await rival.assert_no_event(0.3)


@pytest.mark.parametrize(
    "room",
    [
        "machine:{rival_machine}",
        "machine:00000000-0000-0000-0000-000000000000",
        "org:{rival}",
        "user:{stranger}",
        "tasks:{stranger}",
        "tasks:{manager}",  # an operator may not watch their manager's tasks
    ],
)
async def test_rooms_of_others_are_refused(gateway, room):
    people = gateway.people
    room = room.format(rival_machine=people.rival_machine.id, rival=people.rival.id,
                       stranger=people.stranger.id, manager=people.manager.id)
    async with raw_client(gateway, gateway.tokens["operator"]) as client:
        answer = await client.subscribe(room)
        assert answer["event"] == "error"
        assert answer["data"]["request"] == "subscribe"
        assert answer["data"]["room"] == room
        assert answer["data"]["message"]


@pytest.mark.parametrize("room", ["nope", "machines:mine", "machine:42", "user:me", "", None,
                                  "map:{acme}", "x" * 100, ["machine:1"]])
async def test_unknown_or_malformed_rooms_are_refused(gateway, room):
    if isinstance(room, str):
        room = room.format(acme=gateway.people.acme.id)
    async with raw_client(gateway, gateway.tokens["manager"]) as client:
        answer = await client.subscribe(room)
        assert answer["event"] == "error"
        assert answer["data"]["message"].startswith("invalid room")


async def test_subscribe_without_a_payload_is_refused_not_fatal(gateway):
    async with raw_client(gateway, gateway.tokens["manager"]) as client:
        (answer,) = await client.call("subscribe", None)
        assert answer["event"] == "error"
        await client.ws.send('429["subscribe"]')
        reply = await client.recv()
        assert reply.startswith('439[{"event":"error"'), reply
        assert await client.subscribe("machines:all") == subscribed("machines:all")


async def test_nobody_receives_another_organizations_events(gateway):
    people = gateway.people
    async with raw_client(gateway, gateway.tokens["stranger"]) as stranger:
        for room in (f"machine:{people.rival_machine.id}", "machines:all", f"org:{people.rival.id}",
                     f"user:{people.stranger.id}", f"tasks:{people.stranger.id}"):
            assert await stranger.subscribe(room) == subscribed(room)
        for room in (f"machine:{people.machine.id}", map_room(people.acme.id),
                     organization_room(people.acme.id), user_room(people.operator.id),
                     tasks_room(people.operator.id, people.acme.id)):
            await publish(room, "test:event", {"secret": room})
        await stranger.assert_no_event(0.7)


async def test_product_server_has_no_conformance_endpoints(gateway):
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{gateway.url}/engine.io/?EIO=4&transport=polling")
        assert response.status_code == 404
    async with engine_websocket(gateway.url) as (ws, handshake):
        assert (handshake["pingInterval"], handshake["pingTimeout"]) == (25_000, 20_000)
        await ws.send(f'40/custom,{{"token":"{gateway.tokens["viewer"]}"}}')
        assert await recv_skipping_pings(ws) == '44/custom,{"message":"Invalid namespace"}'


async def test_disconnect_leaves_rooms(gateway):
    room = f"org:{gateway.people.acme.id}"
    async with raw_client(gateway, gateway.tokens["viewer"]) as first:
        assert await first.subscribe(room) == subscribed(room)
    async with raw_client(gateway, gateway.tokens["viewer"]) as second:
        assert await second.subscribe(room) == subscribed(room)
        await asyncio.sleep(0.1)
        await publish(room, "test:event", "after")
        assert await second.next_event() == ["test:event", "after"]


async def test_unsubscribe_accepts_the_same_spellings_as_subscribe(gateway):
    machine = gateway.people.machine.id
    canonical = f"machine:{machine}"
    async with raw_client(gateway, gateway.tokens["operator"]) as client:
        assert await client.subscribe(f"machine:{str(machine).upper()}") == subscribed(canonical)
        assert await client.unsubscribe(f"machine:{str(machine).upper()}") == {
            "event": "unsubscribed", "data": {"room": canonical}}
        await publish(canonical, "test:event", "gone")
        await client.assert_no_event()


async def test_unsubscribe_from_a_malformed_room_is_refused(gateway):
    async with raw_client(gateway, gateway.tokens["operator"]) as client:
        answer = await client.unsubscribe("nonsense")
        assert answer["event"] == "error"
        assert answer["data"]["request"] == "unsubscribe"
