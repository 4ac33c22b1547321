"""Revenue today and the last sale on the live map and the fleet list: the machine list and
detail carry `revenueToday` (the organization's day, from the daily rollups, no query per
machine) and `lastSaleAt`; an accepted vend publishes `machine:revenue` to the
organization's live map (`machines:all`), coalesced per machine and tick like
`machine:status`, reaching the organization's viewers and nobody else."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from channels.layers import InMemoryChannelLayer
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from machines.models import Membership, Organization, Role
from realtime.events import (
    DIRECT_EVENT_SCHEMAS,
    EVENT_SCHEMAS,
    MACHINE_REVENUE,
    MACHINES_REVENUE,
    MACHINES_STATUS,
)
from realtime.fanout import product_hub
from realtime.rooms import map_room
from realtime.server.hub import FRAME_MESSAGE_TYPE, encode_main_event
from sales.models import DailySales, PaymentMethod
from sales.vends import MAX_PRICE
from tests.conftest import client_for
from tests.factories import make_machine, make_user
from tests.realtime.conftest import (  # noqa: F401  (the live gateway of the socket tests)
    _fast_password_hashing,
    gateway,
    product_server,
    token_for,
)
from tests.realtime.product import raw_client
from tests.realtime.test_events import assert_matches
from tests.realtime.test_hub import Member, eventually
from tests.sales.conftest import iso, post_vends, vend_body

LIST = "/api/v1/machines/"


def listed(user, query: str = "") -> dict[str, dict]:
    response = client_for(user).get(LIST + query)
    assert response.status_code == 200, response.content
    return {row["id"]: row for row in response.json()["results"]}


def rollup(machine, day, revenue: int, vends: int = 1, method=PaymentMethod.CASH):
    return DailySales.objects.create(organization_id=machine.organization_id, machine=machine,
                                     payment_method=method, day=day, vends=vends,
                                     revenue=revenue)


def local_today(organization) -> date:
    return timezone.now().astimezone(ZoneInfo(organization.time_zone)).date()


# -- REST: the list and the detail ------------------------------------------------------------


@pytest.mark.django_db
def test_the_machine_list_carries_revenue_today_and_the_last_sale(personas, device):
    quiet = make_machine(personas.acme, name="Quiet")
    now = timezone.now().replace(microsecond=0)
    assert post_vends(device, [
        vend_body(personas.machine, "a", at=now - timedelta(minutes=5)),
        vend_body(personas.machine, "b", price=12000, method="card", at=now),
        vend_body(personas.machine, "old", price=99000, at=now - timedelta(days=2)),
    ]).status_code == 201
    rows = listed(personas.operator)  # a member who is no manager sees the figures too
    mine = rows[str(personas.machine.pk)]
    assert (mine["revenueToday"], mine["lastSaleAt"]) == (27000, iso(now))
    assert (rows[str(quiet.pk)]["revenueToday"], rows[str(quiet.pk)]["lastSaleAt"]) == (0, None)
    detail = client_for(personas.manager).get(f"{LIST}{personas.machine.pk}/").json()
    assert (detail["revenueToday"], detail["lastSaleAt"]) == (27000, iso(now))


@pytest.mark.django_db
def test_a_stranger_neither_lists_nor_opens_the_machine(personas):
    rollup(personas.machine, local_today(personas.acme), 50000)
    assert str(personas.machine.pk) not in listed(personas.stranger)
    response = client_for(personas.stranger).get(f"{LIST}{personas.machine.pk}/")
    assert response.status_code == 404


@pytest.mark.django_db
def test_revenue_today_is_each_organizations_own_day(personas):
    """A person in two organizations whose "today" is never the same date (UTC-11 and
    UTC+14): each machine reads its rollups of its own organization's today."""
    Organization.objects.filter(pk=personas.acme.pk).update(time_zone="Pacific/Pago_Pago")
    Organization.objects.filter(pk=personas.rival.pk).update(time_zone="Pacific/Kiritimati")
    personas.acme.refresh_from_db()
    personas.rival.refresh_from_db()
    acme_day, rival_day = local_today(personas.acme), local_today(personas.rival)
    assert acme_day != rival_day
    rollup(personas.machine, acme_day, 100)
    rollup(personas.machine, rival_day, 999)
    rollup(personas.rival_machine, rival_day, 200)
    rollup(personas.rival_machine, acme_day, 888)
    both = make_user("both", organization=personas.acme, role=Role.MANAGER)
    Membership.objects.create(user=both, organization=personas.rival, role=Role.VIEWER)
    rows = listed(both)
    assert rows[str(personas.machine.pk)]["revenueToday"] == 100
    assert rows[str(personas.rival_machine.pk)]["revenueToday"] == 200
    assert client_for(both).get(f"{LIST}{personas.rival_machine.pk}/").json()[
        "revenueToday"] == 200


@pytest.mark.django_db
def test_revenue_today_adds_every_product_and_payment_method_exactly(personas):
    day = local_today(personas.acme)
    rollup(personas.machine, day, MAX_PRICE, method=PaymentMethod.CASH)
    rollup(personas.machine, day, MAX_PRICE, method=PaymentMethod.MOBILE)
    rollup(personas.machine, day - timedelta(days=1), 7)
    assert listed(personas.manager)[str(personas.machine.pk)]["revenueToday"] == 2 * MAX_PRICE


@pytest.mark.django_db
@pytest.mark.parametrize("ordering", ["-revenueToday", "-revenue_today"])
def test_the_list_sorts_by_revenue_today(personas, ordering):
    day = local_today(personas.acme)
    second, third = make_machine(personas.acme, name="B"), make_machine(personas.acme, name="C")
    rollup(second, day, 30000)
    rollup(personas.machine, day, 10000)
    response = client_for(personas.manager).get(LIST, {"ordering": ordering})
    assert [row["id"] for row in response.json()["results"]] == [
        str(second.pk), str(personas.machine.pk), str(third.pk)]
    ascending = client_for(personas.manager).get(LIST, {"ordering": "lastSaleAt"})
    assert ascending.status_code == 200


@pytest.mark.django_db
def test_a_bad_ordering_is_a_400_naming_the_parameter(personas):
    response = client_for(personas.manager).get(LIST, {"ordering": "revenue"})
    assert response.status_code == 400
    assert "revenueToday" in response.json()["ordering"][0]


@pytest.mark.django_db
def test_revenue_today_costs_no_query_per_machine(personas):
    day = local_today(personas.acme)

    def queries_for(count: int) -> int:
        for _ in range(count):
            rollup(make_machine(personas.acme), day, 1000)
        with CaptureQueriesContext(connection) as queries:
            assert len(listed(personas.manager)) >= count
        return len(queries)

    assert queries_for(2) == queries_for(20)


# -- the event ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_vend_publishes_the_machines_revenue_today_to_its_organizations_live_map(
        personas, device, sent):
    other = make_machine(personas.acme, name="Other")
    rollup(other, local_today(personas.acme), 40000)  # the organization's, not this machine's
    now = timezone.now().replace(microsecond=0)
    with sent.capture():
        assert post_vends(device, [vend_body(personas.machine, "a", at=now),
                                   vend_body(personas.machine, "b", price=9000,
                                             at=now - timedelta(minutes=1))]).status_code == 201
    [update] = sent.of(MACHINE_REVENUE)
    assert_matches(update, EVENT_SCHEMAS[MACHINE_REVENUE])
    assert update == {"machineId": str(personas.machine.pk), "revenueToday": 24000,
                      "vendsToday": 2, "lastSaleAt": iso(now),
                      "date": local_today(personas.acme).isoformat()}
    assert sent.rooms(MACHINE_REVENUE) == [map_room(personas.acme.pk)]


@pytest.mark.django_db
def test_a_late_vend_keeps_the_later_last_sale(personas, device, sent):
    now = timezone.now().replace(microsecond=0)
    post_vends(device, vend_body(personas.machine, "new", at=now))
    with sent.capture():
        post_vends(device, vend_body(personas.machine, "late", at=now - timedelta(minutes=9)))
    [update] = sent.of(MACHINE_REVENUE)
    assert (update["lastSaleAt"], update["vendsToday"], update["revenueToday"]) == (
        iso(now), 2, 30000)


@pytest.mark.django_db
def test_a_retry_publishes_no_revenue_update(personas, device, sent):
    post_vends(device, vend_body(personas.machine))
    with sent.capture():
        assert post_vends(device, vend_body(personas.machine)).status_code == 200
    assert sent.of(MACHINE_REVENUE) == []


# -- coalescing in the hub --------------------------------------------------------------------

MAP = map_room("6f1c2a52-0000-4000-8000-000000000001")


def revenue_message(machine_id: str, vends: int) -> dict:
    payload = {"machineId": machine_id, "revenueToday": vends * 1000, "vendsToday": vends,
               "lastSaleAt": "2026-03-01T09:00:00Z", "date": "2026-03-01"}
    return {"type": FRAME_MESSAGE_TYPE, "room": MAP, "event": MACHINE_REVENUE,
            "frame": encode_main_event(MACHINE_REVENUE, payload), "offset": None}


@pytest.fixture
async def hub():
    hub = product_hub(InMemoryChannelLayer(), map_tick_ms=100)
    yield hub
    await hub.stop()


def frames_of(member: Member) -> list:
    return [json.loads(frame[2:]) for frame in member.frames]


async def test_a_vend_burst_reaches_each_viewer_once_per_machine_and_tick(hub):
    dashboard, reference = Member(), Member()
    await hub.join(dashboard, MAP, batched=True)
    await hub.join(reference, MAP)
    machines = [str(uuid.uuid4()) for _ in range(3)]
    for vends in range(1, 1001):  # 3,000 sales summaries within one tick
        for machine in machines:
            hub.dispatch(revenue_message(machine, vends))
    await eventually(lambda: dashboard.frames and len(reference.frames) == 3, timeout=1)
    await asyncio.sleep(0.25)  # two more ticks: nothing else comes
    [(event, entries)] = frames_of(dashboard)
    assert event == MACHINES_REVENUE
    assert_matches(entries, DIRECT_EVENT_SCHEMAS[MACHINES_REVENUE])
    assert [(e["machineId"], e["vendsToday"]) for e in entries] == [(m, 1000) for m in machines]
    assert [(e, p["machineId"], p["vendsToday"]) for e, p in frames_of(reference)] == [
        (MACHINE_REVENUE, m, 1000) for m in machines]
    assert hub.coalescers["live_revenue"].coalesced == 2997
    assert hub.stats()["pending_map_updates"] == 0


async def test_statuses_and_revenue_of_one_tick_come_as_two_batches(hub):
    viewer = Member()
    await hub.join(viewer, MAP, batched=True)
    hub.dispatch(revenue_message("m-1", 1))
    status = {"machineId": "m-1", "status": "offline", "timestamp": "2026-03-01T09:00:00Z"}
    hub.dispatch({"type": FRAME_MESSAGE_TYPE, "room": MAP, "event": "machine:status",
                  "frame": encode_main_event("machine:status", status)})
    await eventually(lambda: len(viewer.frames) == 2, timeout=1)
    assert sorted(event for event, _ in frames_of(viewer)) == [MACHINES_REVENUE,
                                                                 MACHINES_STATUS]


async def test_a_revenue_update_of_a_machine_room_is_not_delayed(hub):
    viewer = Member()
    await hub.join(viewer, "machine:m-1")
    message = {**revenue_message("m-1", 1), "room": "machine:m-1"}
    hub.dispatch(message)
    assert viewer.frames == [message["frame"]]


# -- end to end: a device posts a vend, the live map of its organization hears it ---------------


@pytest.mark.redis
@pytest.mark.postgres
async def test_a_posted_vend_reaches_the_organizations_map_and_no_strangers(
        gateway, device_key):  # noqa: F811
    people = gateway.people
    body = vend_body(people.machine, "e2e", selection="55", price=15000)
    async with raw_client(gateway, gateway.tokens["viewer"]) as viewer, \
            raw_client(gateway, gateway.tokens["stranger"]) as stranger, \
            httpx.AsyncClient(base_url=gateway.url, timeout=10) as device:
        assert (await viewer.subscribe("machines:all", batch=True))["event"] == "subscribed"
        assert (await stranger.subscribe("machines:all"))["event"] == "subscribed"
        response = await device.post("/api/v1/sales/", json=body,
                                     headers={"Authorization": f"Device {device_key}"})
        assert response.status_code == 201, response.text
        event, entries = await viewer.next_event(timeout=5)
        assert event == MACHINES_REVENUE
        assert [(e["machineId"], e["revenueToday"], e["vendsToday"], e["lastSaleAt"])
                for e in entries] == [(str(people.machine.id), 15000, 1, body["timestamp"])]
        await stranger.assert_no_event(1.5)


@pytest.mark.redis
@pytest.mark.postgres
async def test_a_member_of_two_organizations_hears_the_sales_of_both(
        gateway, device_key):  # noqa: F811
    people = gateway.people
    both = await asyncio.to_thread(_member_of_both, people)
    body = vend_body(people.machine, "both", selection="55", price=5000,
                     at=datetime.now(UTC) - timedelta(seconds=1))
    async with raw_client(gateway, token_for(both)) as client, \
            httpx.AsyncClient(base_url=gateway.url, timeout=10) as device:
        assert (await client.subscribe("machines:all"))["event"] == "subscribed"
        response = await device.post("/api/v1/sales/", json=body,
                                     headers={"Authorization": f"Device {device_key}"})
        assert response.status_code == 201, response.text
        event, update = await client.next_event(timeout=5)
        assert (event, update["machineId"], update["revenueToday"]) == (
            MACHINE_REVENUE, str(people.machine.id), 5000)


def _member_of_both(people):
    try:
        user = make_user("in-both", organization=people.rival, role=Role.VIEWER)
        Membership.objects.create(user=user, organization=people.acme, role=Role.OPERATOR)
        return user
    finally:
        connection.close()
