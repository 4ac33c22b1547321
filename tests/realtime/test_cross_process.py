"""Several server processes behind one Redis channel layer: an event published anywhere
reaches the clients of every process, and each process receives it once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis.asyncio as redis

from realtime.rooms import group_name
from telemetry.device_keys import issue_device_key
from tests.live import LiveServer
from tests.realtime.product import Gateway, publish, raw_client
from tests.telemetry.conftest import reading_body

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


@pytest.fixture
def second_gateway(gateway):
    """Server B: another product server process on the same database and Redis."""
    with LiveServer() as server:
        yield Gateway(server, gateway.people, gateway.tokens)


async def group_members(redis_url: str, room: str) -> int:
    """How many channels (server processes) the room's Channels group holds in Redis."""
    from django.conf import settings

    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"].get("prefix", "asgi")
    client = redis.from_url(redis_url)
    try:
        return await client.zcard(f"{prefix}:group:{group_name(room)}")
    finally:
        await client.aclose()


async def test_clients_on_two_processes_both_receive_one_publish(gateway, second_gateway,
                                                                 redis_url):
    room = f"machine:{gateway.people.machine.id}"
    async with raw_client(gateway, gateway.tokens["operator"]) as on_a, \
            raw_client(second_gateway, gateway.tokens["manager"]) as on_b:
        assert (await on_a.subscribe(room))["event"] == "subscribed"
        assert (await on_b.subscribe(room))["event"] == "subscribed"
        assert await group_members(redis_url, room) == 2
        await publish(room, "machine:status", {"status": "error"})
        assert await on_a.next_event() == ["machine:status", {"status": "error"}]
        assert await on_b.next_event() == ["machine:status", {"status": "error"}]
        await on_a.assert_no_event(0.3)
        await on_b.assert_no_event(0.3)


async def test_a_process_joins_a_room_group_once_for_all_its_clients(gateway, redis_url):
    room = f"org:{gateway.people.acme.id}"
    async with raw_client(gateway, gateway.tokens["operator"]) as first, \
            raw_client(gateway, gateway.tokens["viewer"]) as second:
        assert (await first.subscribe(room))["event"] == "subscribed"
        assert (await second.subscribe(room))["event"] == "subscribed"
        assert await group_members(redis_url, room) == 1
        await publish(room, "test:event", {"n": 1})
        assert await first.next_event() == ["test:event", {"n": 1}]
        assert await second.next_event() == ["test:event", {"n": 1}]
        await first.assert_no_event(0.3)
        await second.assert_no_event(0.3)
        assert (await first.unsubscribe(room))["event"] == "unsubscribed"
        assert await group_members(redis_url, room) == 1  # the second client is still in


@pytest.fixture
def short_linger_gateway(gateway):
    """A product server that stays in a room's group for 0.5 s after its last member left."""
    with LiveServer(env={"REALTIME_ROOM_LINGER_MS": "500"}) as server:
        yield Gateway(server, gateway.people, gateway.tokens)


async def test_a_process_leaves_a_room_group_a_linger_after_its_last_client(
        short_linger_gateway, redis_url):
    gateway = short_linger_gateway
    room = f"org:{gateway.people.acme.id}"
    async with raw_client(gateway, gateway.tokens["operator"]) as client:
        assert (await client.subscribe(room))["event"] == "subscribed"
    await asyncio.sleep(0.2)  # disconnect handling is asynchronous
    assert await group_members(redis_url, room) == 1  # lingering: a reload comes back here
    async with raw_client(gateway, gateway.tokens["operator"]) as client:
        assert (await client.subscribe(room))["event"] == "subscribed"
        await publish(room, "test:event", {"back": True})
        assert await client.next_event() == ["test:event", {"back": True}]
    deadline = asyncio.get_running_loop().time() + 5
    while await group_members(redis_url, room) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
    assert await group_members(redis_url, room) == 0


async def test_a_client_on_one_process_only_gets_its_rooms(gateway, second_gateway):
    people = gateway.people
    async with raw_client(gateway, gateway.tokens["stranger"]) as rival_on_a, \
            raw_client(second_gateway, gateway.tokens["viewer"]) as acme_on_b:
        assert (await rival_on_a.subscribe("machines:all"))["event"] == "subscribed"
        assert (await acme_on_b.subscribe("machines:all"))["event"] == "subscribed"
        await publish(f"map:{people.acme.id}", "machine:status", {"org": "acme"})
        assert await acme_on_b.next_event() == ["machine:status", {"org": "acme"}]
        await rival_on_a.assert_no_event(0.5)


@pytest.fixture
def device_key(gateway) -> str:
    return issue_device_key(machine=gateway.people.machine).plaintext


async def test_a_reading_posted_to_one_process_reaches_a_client_of_the_other(
        gateway, second_gateway, device_key):
    """The producer is server process B itself (its ingest endpoint), not the test process:
    a client of process A gets the event B published."""
    machine = gateway.people.machine
    room = f"machine:{machine.id}"
    async with raw_client(gateway, gateway.tokens["operator"]) as on_a:
        assert (await on_a.subscribe(room))["event"] == "subscribed"
        async with httpx.AsyncClient(base_url=second_gateway.url, timeout=10) as http:
            body = reading_body(machine, at=datetime.now(UTC) - timedelta(seconds=5),
                                temperature=23.5)
            response = await http.post("/api/v1/telemetry/", json=body,
                                       headers={"Authorization": f"Device {device_key}"})
        assert response.status_code == 201, response.text
        names = []
        while not names or names[-1] != "machine:telemetry":  # a status change may come first
            event = await on_a.next_event()
            names.append(event[0])
        assert event[1]["machineId"] == str(machine.id) and event[1]["temperature"] == 23.5
        assert set(names) <= {"machine:status", "machine:telemetry"}, names
