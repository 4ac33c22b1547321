"""Rights that change while a socket is open: a member removed, a role lowered, a user
deactivated. The sockets concerned leave the rooms they may no longer be in, on every
server process, within a second, without reconnecting, and are told so."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async

from machines.models import Membership, Role
from realtime.events import AUTH_REVOKED, DIRECT_EVENT_SCHEMAS, RESYNC, UNSUBSCRIBED
from realtime.rooms import organization_room
from tests.factories import make_user
from tests.realtime.conftest import token_for
from tests.realtime.product import publish, raw_client
from tests.realtime.test_events import assert_matches

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

REVOKED = "access revoked"


async def next_named(client, name: str, timeout: float = 1.0) -> list:
    """The next event called `name` within `timeout` seconds (others received meanwhile
    are skipped)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        assert left > 0, f"no {name!r} within {timeout}s"
        event = await client.next_event(left)
        if event[0] == name:
            if name in (AUTH_REVOKED, RESYNC, UNSUBSCRIBED):
                assert_matches(event[1], DIRECT_EVENT_SCHEMAS[name])
            return event


@sync_to_async
def remove_membership(user, organization) -> None:
    Membership.objects.filter(user=user, organization=organization).delete()


async def test_a_removed_member_stops_receiving_within_a_second_on_another_process(
        gateway, second_gateway):
    people = gateway.people
    org_room = f"org:{people.acme.id}"
    machine_room = f"machine:{people.machine.id}"
    async with raw_client(second_gateway, gateway.tokens["viewer"]) as removed, \
            raw_client(gateway, gateway.tokens["operator"]) as staying:
        for room in (org_room, machine_room, "machines:all", f"user:{people.viewer.id}"):
            assert (await removed.subscribe(room))["event"] == "subscribed"
        assert (await staying.subscribe(org_room))["event"] == "subscribed"

        started = time.monotonic()
        await remove_membership(people.viewer, people.acme)
        withdrawn = set()
        while len(withdrawn) < 3:
            event = await next_named(removed, "unsubscribed")
            assert event[1]["reason"] == REVOKED
            withdrawn.add(event[1]["room"])
        assert time.monotonic() - started < 1.0
        assert withdrawn == {org_room, machine_room, "machines:all"}

        await publish(organization_room(people.acme.id), "inventory:low", {"n": 1})
        assert await staying.next_event() == ["inventory:low", {"n": 1}]
        await removed.assert_no_event(0.5)
        # Still connected, still in the room it may keep.
        await publish(f"user:{people.viewer.id}", "notification", {"id": "1"})
        assert await removed.next_event() == ["notification", {"id": "1"}]
        # And it cannot come back by asking again.
        assert (await removed.subscribe(org_room))["event"] == "error"


async def test_a_manager_lowered_to_viewer_loses_the_operators_task_board(gateway,
                                                                          second_gateway):
    people = gateway.people
    tasks = f"tasks:{people.operator.id}"
    async with raw_client(second_gateway, gateway.tokens["manager"]) as manager:
        assert (await manager.subscribe(tasks))["event"] == "subscribed"
        await sync_to_async(Membership.objects.filter(
            user=people.manager, organization=people.acme).update)(role=Role.VIEWER)
        await manager.assert_no_event(0.3)  # a bulk update sends no signal: nothing yet...
        membership = await sync_to_async(Membership.objects.get)(
            user=people.manager, organization=people.acme)
        membership.role = Role.MANAGER
        await sync_to_async(membership.save)()  # back to manager: no loss of rights
        await manager.assert_no_event(0.5)
        membership.role = Role.VIEWER
        await sync_to_async(membership.save)()
        assert (await next_named(manager, "unsubscribed"))[1] == {"room": tasks,
                                                                   "reason": REVOKED}


async def test_a_deactivated_user_is_told_and_disconnected(gateway, second_gateway):
    people = gateway.people
    async with raw_client(second_gateway, gateway.tokens["operator"]) as client:
        assert (await client.subscribe(f"org:{people.acme.id}"))["event"] == "subscribed"
        people.operator.is_active = False
        await sync_to_async(people.operator.save)()
        assert (await next_named(client, "auth:revoked"))[1]["message"]
        frame = await client.recv(1.0)
        assert frame == "41", frame  # Socket.IO DISCONNECT of the namespace


async def test_a_token_refresh_checks_every_room_again(gateway):
    """A change that sent no message (a bulk update moving the membership elsewhere) is
    caught at the next `auth:refresh`."""
    people = gateway.people
    org_room = f"org:{people.acme.id}"
    async with raw_client(gateway, gateway.tokens["viewer"]) as client:
        assert (await client.subscribe(org_room))["event"] == "subscribed"
        await sync_to_async(Membership.objects.filter(user=people.viewer).update)(
            organization=people.rival)
        await client.assert_no_event(0.3)  # no signal, no message: still subscribed
        (answer,) = await client.call("auth:refresh", {"token": token_for(people.viewer)})
        assert answer["event"] == "auth:refreshed"
        assert (await next_named(client, "unsubscribed"))[1] == {"room": org_room,
                                                                  "reason": REVOKED}
        await publish(organization_room(people.acme.id), "inventory:low", {"n": 2})
        await client.assert_no_event(0.5)


async def test_a_new_membership_widens_the_live_map_and_asks_for_a_resync(gateway):
    people = gateway.people
    async with raw_client(gateway, gateway.tokens["operator"]) as client:
        assert (await client.subscribe("machines:all"))["event"] == "subscribed"
        await sync_to_async(Membership.objects.create)(
            user=people.operator, organization=people.rival, role=Role.VIEWER)
        assert (await next_named(client, "resync"))[1] == {"reason": "access-changed"}
        await publish(f"map:{people.rival.id}", "inventory:low", {"n": 3})
        assert (await next_named(client, "inventory:low"))[1] == {"n": 3}


async def test_a_manager_watching_a_person_who_leaves_the_organization_loses_that_board(
        gateway):
    people = gateway.people
    async with raw_client(gateway, gateway.tokens["manager"]) as manager:
        assert (await manager.subscribe(f"tasks:{people.operator.id}"))["event"] == "subscribed"
        await remove_membership(people.operator, people.acme)
        assert (await next_named(manager, "unsubscribed"))[1] == {
            "room": f"tasks:{people.operator.id}", "reason": REVOKED}


@pytest.fixture
def two_organization_operator(gateway):
    """acme's operator also works for rival."""
    Membership.objects.create(user=gateway.people.operator, organization=gateway.people.rival,
                              role=Role.OPERATOR)
    return gateway.people.operator


async def test_a_managers_view_of_a_task_board_shows_only_the_managers_organization(
        gateway, two_organization_operator):
    from tests.factories import make_task

    people = gateway.people
    board = f"tasks:{people.operator.id}"
    async with raw_client(gateway, gateway.tokens["manager"]) as manager, \
            raw_client(gateway, gateway.tokens["operator"]) as operator:
        assert (await manager.subscribe(board))["event"] == "subscribed"
        assert (await operator.subscribe(board))["event"] == "subscribed"
        rival_task = await sync_to_async(make_task)(people.rival_machine,
                                                    assignee=people.operator)
        # The operator sees their rival task; acme's manager does not.
        assert (await next_named(operator, "task:updated"))[1]["id"] == str(rival_task.pk)
        await manager.assert_no_event(0.5)
        acme_task = await sync_to_async(make_task)(people.machine, assignee=people.operator)
        assert (await next_named(manager, "task:updated"))[1]["id"] == str(acme_task.pk)
        assert (await next_named(operator, "task:updated"))[1]["id"] == str(acme_task.pk)


async def test_a_viewer_of_one_organization_never_gets_the_other_organizations_tasks(
        gateway):
    """The issue's case: operator in rival, only a viewer in acme; acme's manager watches
    their board and gets nothing of rival."""
    from tests.factories import make_task

    people = gateway.people
    both = await sync_to_async(make_user)("two-hats", organization=people.rival,
                                         role=Role.OPERATOR)
    await sync_to_async(Membership.objects.create)(user=both, organization=people.acme,
                                                   role=Role.VIEWER)
    async with raw_client(gateway, gateway.tokens["manager"]) as manager:
        assert (await manager.subscribe(f"tasks:{both.id}"))["event"] == "subscribed"
        await sync_to_async(make_task)(people.rival_machine, assignee=both)
        await manager.assert_no_event(0.7)
