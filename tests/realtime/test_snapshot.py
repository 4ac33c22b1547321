"""Snapshot on subscribe, and the live map's updates coalesced to one batch per tick.

Joining `machine:{id}` sends that machine's latest telemetry at once; joining `machines:all`
sends the status of every machine of the viewer's organizations; the map's status updates
then arrive coalesced per machine and tick (realtime/server/coalescing.py): one `machines:status`
batch per room for a subscriber that asked for batches, one `machine:status` per machine for
the others (a client written for the reference design)."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.layers import InMemoryChannelLayer
from channels.testing import WebsocketCommunicator
from django.db import connection

from machines.models import MachineStatus
from machines.selectors import machine_statuses_in
from realtime.events import DIRECT_EVENT_SCHEMAS, MACHINES_SNAPSHOT, MACHINES_STATUS, RESYNC
from realtime.fanout import MAP_BATCH_EVENT, map_tick_ms, product_hub
from realtime.rooms import map_room
from realtime.server import hub as hub_module
from realtime.server.conf import RealtimeConfig
from realtime.server.hub import FRAME_MESSAGE_TYPE, encode_main_event, get_hub
from realtime.server.sio import Namespace, Socket
from telemetry.selectors import machine_telemetry
from tests.factories import make_machine, make_reading
from tests.realtime.product import publish, raw_client
from tests.realtime.test_events import assert_matches
from tests.realtime.test_gateway_inprocess import WS_PATH, application, recv_text
from tests.realtime.test_hub import Member, eventually
from tests.realtime.wire import CONNECT_REPLY, parse_open

ORG = "6f1c2a52-0000-4000-8000-000000000001"
MAP = map_room(ORG)


def subscribed(room: str) -> dict:
    return {"event": "subscribed", "data": {"room": room}}


def status_message(machine_id: str, status: str, *, room: str = MAP,
                   offset: str | None = None) -> dict:
    payload = {"machineId": machine_id, "status": status, "timestamp": "2026-03-01T09:00:00Z"}
    args = [payload] if offset is None else [payload, offset]
    return {"type": FRAME_MESSAGE_TYPE, "room": room, "event": "machine:status",
            "frame": encode_main_event("machine:status", *args), "offset": offset}


def batch_of(frame: str) -> list:
    assert frame.startswith("42["), frame
    return json.loads(frame[2:])


@pytest.fixture
async def hub():
    hub = product_hub(InMemoryChannelLayer(), map_tick_ms=100)
    yield hub
    await hub.stop()


# -- coalescing in the hub ----------------------------------------------------------------


async def test_fifty_status_changes_within_one_tick_make_one_batch_frame(hub):
    viewer = Member()
    await hub.join(viewer, MAP, batched=True)
    machines = [str(uuid.uuid4()) for _ in range(50)]
    for machine in machines:
        await hub.publish(MAP, status_message(machine, "offline")["frame"], "machine:status")
    await eventually(lambda: viewer.frames, timeout=1)
    await asyncio.sleep(0.25)  # two more ticks: nothing else comes
    [frame] = viewer.frames
    event, entries = batch_of(frame)
    assert event == MACHINES_STATUS
    assert [e["machineId"] for e in entries] == machines
    assert {e["status"] for e in entries} == {"offline"}
    assert_matches(entries, DIRECT_EVENT_SCHEMAS[MACHINES_STATUS])


async def test_the_latest_status_of_a_machine_wins_within_a_tick(hub):
    viewer = Member()
    await hub.join(viewer, MAP, batched=True)
    for status in ("offline", "error", "online"):
        hub.dispatch(status_message("m-1", status))
    hub.dispatch(status_message("m-2", "maintenance"))
    await eventually(lambda: viewer.frames, timeout=1)
    _, entries = batch_of(viewer.frames[0])
    assert [(e["machineId"], e["status"]) for e in entries] == [("m-1", "online"),
                                                                ("m-2", "maintenance")]
    assert hub.coalescers["live_map"].coalesced == 2
    assert hub.stats()["pending_map_updates"] == 0


async def test_the_batch_is_encoded_once_and_carries_the_newest_offset(hub):
    first, second = Member(), Member()
    await hub.join(first, MAP, batched=True)
    await hub.join(second, MAP, batched=True)
    for machine, offset in (("m-1", "1700000000000-3"), ("m-2", "1700000000001-0"),
                            ("m-3", "1700000000000-9")):
        hub.dispatch(status_message(machine, "offline", offset=offset))
    await eventually(lambda: first.frames, timeout=1)
    assert first.frames[0] is second.frames[0]  # one string for every member
    event, entries, offset = batch_of(first.frames[0])
    assert (event, len(entries), offset) == (MACHINES_STATUS, 3, "1700000000001-0")


async def test_each_map_room_gets_its_own_batch(hub):
    acme, rival = Member(), Member()
    await hub.join(acme, MAP, batched=True)
    await hub.join(rival, map_room("rival"), batched=True)
    hub.dispatch(status_message("acme-1", "offline"))
    hub.dispatch(status_message("rival-1", "error", room=map_room("rival")))
    await eventually(lambda: acme.frames and rival.frames, timeout=1)
    assert [e["machineId"] for e in batch_of(acme.frames[0])[1]] == ["acme-1"]
    assert [e["machineId"] for e in batch_of(rival.frames[0])[1]] == ["rival-1"]


async def test_only_status_updates_of_map_rooms_wait_for_the_tick(hub):
    viewer = Member()
    await hub.join(viewer, MAP)
    await hub.join(viewer, "machine:m-1")
    hub.dispatch(status_message("m-1", "offline", room="machine:m-1"))  # the monitor: at once
    hub.dispatch({"type": FRAME_MESSAGE_TYPE, "room": MAP, "event": "test:event",
                  "frame": '42["test:event",1]'})
    hub.dispatch({"type": FRAME_MESSAGE_TYPE, "room": MAP, "event": "machine:status",
                  "frame": '42["machine:status",{"who":"not a status"}]'})
    assert [batch_of(f)[0] for f in viewer.frames] == ["machine:status", "test:event",
                                                        "machine:status"]


async def test_a_member_without_batches_gets_each_machines_latest_status_once_per_tick(hub):
    """The reference design's live map listens for `machine:status`: it gets one per
    machine and tick, the frame as published (offset included), while a batched member of
    the same room gets the batch."""
    reference, dashboard = Member(), Member()
    await hub.join(reference, MAP)
    await hub.join(dashboard, MAP, batched=True)
    for status in ("offline", "error", "online", "error"):  # a flapping machine
        hub.dispatch(status_message("m-1", status, offset="1700000000000-1"))
    latest = status_message("m-2", "maintenance", offset="1700000000000-2")
    hub.dispatch(latest)
    await eventually(lambda: reference.frames and dashboard.frames, timeout=1)
    await asyncio.sleep(0.25)  # two more ticks: nothing else comes
    assert [batch_of(f) for f in reference.frames] == [
        ["machine:status", {"machineId": "m-1", "status": "error",
                            "timestamp": "2026-03-01T09:00:00Z"}, "1700000000000-1"],
        ["machine:status", {"machineId": "m-2", "status": "maintenance",
                            "timestamp": "2026-03-01T09:00:00Z"}, "1700000000000-2"]]
    assert reference.frames[1] is latest["frame"]  # as published: not encoded again
    [batch] = dashboard.frames
    assert batch_of(batch)[0] == MACHINES_STATUS


async def test_a_member_that_leaves_stops_being_batched(hub):
    member = Member()
    await hub.join(member, MAP, batched=True)
    await hub.leave(member, MAP)
    await hub.join(member, MAP)
    hub.dispatch(status_message("m-1", "offline"))
    await eventually(lambda: member.frames, timeout=1)
    assert batch_of(member.frames[0])[0] == "machine:status"


async def test_updates_for_a_room_without_local_members_are_not_kept(hub):
    hub.dispatch(status_message("m-1", "offline"))
    assert hub.stats()["pending_map_updates"] == 0


async def test_the_tick_is_configurable():
    slow = product_hub(InMemoryChannelLayer(), map_tick_ms=400)
    viewer = Member()
    try:
        await slow.join(viewer, MAP, batched=True)
        slow.dispatch(status_message("m-1", "offline"))
        await asyncio.sleep(0.2)
        assert viewer.frames == []
        await eventually(lambda: viewer.frames, timeout=1)
    finally:
        await slow.stop()


async def test_a_zero_tick_delivers_every_update_at_once():
    eager = product_hub(InMemoryChannelLayer(), map_tick_ms=0)
    viewer = Member()
    try:
        await eager.join(viewer, MAP)
        eager.dispatch(status_message("m-1", "offline"))
        assert [batch_of(f)[0] for f in viewer.frames] == ["machine:status"]
    finally:
        await eager.stop()


async def test_the_process_hub_reads_its_tick_from_settings(settings):
    settings.REALTIME = {**settings.REALTIME, "MAP_TICK_MS": 250}
    assert map_tick_ms() == 250
    loop = asyncio.get_running_loop()
    hub_module._hubs.pop(loop, None)
    try:
        assert get_hub().coalescers["live_map"].tick == 0.25
    finally:
        await hub_module._hubs.pop(loop).stop()


def test_the_gateway_events_share_the_hubs_names():
    assert (MAP_BATCH_EVENT, hub_module.RESYNC_EVENT) == (MACHINES_STATUS, RESYNC)


# -- after-ack callbacks ----------------------------------------------------------------------


class GreetingNamespace(Namespace):
    async def on_join(self, socket: Socket, room: str) -> dict:
        socket.after_ack(lambda: socket.emit("welcome", room))
        return {"joined": room}


@pytest.mark.django_db  # Channels closes old database connections on disconnect
async def test_a_snapshot_registered_in_a_handler_follows_the_ack():
    app = application(RealtimeConfig(ping_interval_ms=60_000), {"/": GreetingNamespace()})
    communicator = WebsocketCommunicator(app, WS_PATH)
    assert (await communicator.connect())[0]
    try:
        parse_open(await recv_text(communicator))
        await communicator.send_to(text_data="40")
        assert CONNECT_REPLY.match(await recv_text(communicator))
        await communicator.send_to(text_data='427["join","lobby"]')
        assert await recv_text(communicator) == '437[{"joined":"lobby"}]'
        assert await recv_text(communicator) == '42["welcome","lobby"]'
        await communicator.send_to(text_data='42["join","hall"]')  # no ack asked: still sent
        assert await recv_text(communicator) == '42["welcome","hall"]'
    finally:
        await communicator.disconnect()


# -- the selector ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_map_snapshot_has_every_machine_of_the_organizations_only(personas):
    hidden = make_machine(personas.acme, name="Basement", latitude=None, longitude=None,
                          status=MachineStatus.MAINTENANCE)
    snapshot = machine_statuses_in([str(personas.acme.pk)])
    assert_matches(snapshot, DIRECT_EVENT_SCHEMAS[MACHINES_SNAPSHOT])
    by_id = {m["machineId"]: m for m in snapshot}
    assert set(by_id) == {str(personas.machine.pk), str(hidden.pk)}
    assert by_id[str(hidden.pk)]["lat"] is None
    assert by_id[str(hidden.pk)]["status"] == "maintenance"
    assert by_id[str(personas.machine.pk)]["lat"] == pytest.approx(41.2995)


# -- end to end: the product server ------------------------------------------------------------


@pytest.fixture
def fleet(gateway):
    """Two more Acme machines (one without coordinates) and a reading of the persona machine."""
    people = gateway.people
    make_reading(people.machine, temperature=23.5, humidity=41.0, uptime_seconds=7200)
    extra = [make_machine(people.acme, name="Lobby", status=MachineStatus.OFFLINE),
             make_machine(people.acme, name="Cellar", latitude=None, longitude=None)]
    return gateway, extra


@pytest.mark.redis
@pytest.mark.postgres
async def test_joining_a_machine_room_sends_its_latest_telemetry_right_after_the_ack(fleet):
    gateway, _ = fleet
    machine = gateway.people.machine
    room = f"machine:{machine.id}"

    def expected_telemetry() -> dict:
        try:
            return machine_telemetry(type(machine).objects.get(pk=machine.pk))
        finally:
            connection.close()  # the worker thread's: the test database is dropped later

    expected = await sync_to_async(expected_telemetry, thread_sensitive=False)()
    async with raw_client(gateway, gateway.tokens["operator"]) as client:
        await client.ws.send(f'420["subscribe",{{"room":"{room}"}}]')
        assert await client.recv() == f'430[{{"event":"subscribed","data":{{"room":"{room}"}}}}]'
        assert await client.next_event() == ["machine:telemetry", expected]
        assert expected["temperature"] == 23.5 and expected["uptime"] == 7200
        # Subscribing again is idempotent: no second snapshot.
        assert await client.subscribe(room, snapshot=False) == subscribed(room)
        await client.assert_no_event(0.3)


@pytest.mark.redis
@pytest.mark.postgres
async def test_the_live_map_snapshot_lists_the_viewers_organizations_machines_only(fleet):
    gateway, extra = fleet
    people = gateway.people
    async with raw_client(gateway, gateway.tokens["viewer"]) as acme, \
            raw_client(gateway, gateway.tokens["stranger"]) as rival:
        assert await acme.subscribe("machines:all") == subscribed("machines:all")
        assert await rival.subscribe("machines:all") == subscribed("machines:all")
    event, snapshot = acme.snapshots["machines:all"]
    assert event == MACHINES_SNAPSHOT
    assert_matches(snapshot, DIRECT_EVENT_SCHEMAS[MACHINES_SNAPSHOT])
    assert {m["machineId"] for m in snapshot} == {str(people.machine.id),
                                                  *(str(m.id) for m in extra)}
    statuses = {m["name"]: m["status"] for m in snapshot}
    assert statuses["Lobby"] == "offline"
    assert rival.snapshots["machines:all"] == [MACHINES_SNAPSHOT, [
        {"machineId": str(people.rival_machine.id), "name": people.rival_machine.name,
         "lat": 41.2995, "lng": 69.2401, "status": "online", "lastSeenAt": None}]]


@pytest.mark.redis
@pytest.mark.postgres
async def test_fifty_map_updates_published_at_once_reach_a_viewer_as_one_frame(gateway):
    machines = [str(uuid.uuid4()) for _ in range(50)]
    room = map_room(gateway.people.acme.id)
    async with raw_client(gateway, gateway.tokens["viewer"]) as viewer:
        assert await viewer.subscribe("machines:all", batch=True) == subscribed("machines:all")
        await asyncio.gather(*(
            publish(room, "machine:status", {"machineId": machine, "status": "error",
                                             "timestamp": "2026-03-01T09:00:00Z"})
            for machine in machines))
        event, entries = await viewer.next_event(timeout=3)
        assert event == MACHINES_STATUS
        assert sorted(e["machineId"] for e in entries) == sorted(machines)
        await viewer.assert_no_event(1.3)  # the next tick has nothing to send


@pytest.mark.redis
@pytest.mark.postgres
async def test_a_live_map_subscriber_by_default_gets_machine_status_per_machine(gateway):
    """What the reference design's live map listens for, coalesced per machine and tick."""
    machine = str(gateway.people.machine.id)
    room = map_room(gateway.people.acme.id)
    async with raw_client(gateway, gateway.tokens["viewer"]) as viewer:
        assert await viewer.subscribe("machines:all") == subscribed("machines:all")
        for status in ("offline", "error", "online"):
            await publish(room, "machine:status", {"machineId": machine, "status": status,
                                                   "timestamp": "2026-03-01T09:00:00Z"})
        event = await viewer.next_event(timeout=3)
        assert event[0] == "machine:status" and event[1]["machineId"] == machine
        # Three changes within one tick reach the client as at most a few, ending online.
        seen = [event[1]["status"]]
        try:
            while True:
                seen.append((await viewer.next_event(timeout=1.3))[1]["status"])
        except TimeoutError:
            pass
        assert seen[-1] == "online" and len(seen) < 3
