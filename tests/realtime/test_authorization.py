"""Who may join which room: every room kind, own vs other organization, managers vs
operators for task rooms."""

from __future__ import annotations

import uuid

import pytest

from machines.models import Role
from realtime.authentication import (
    AuthenticationFailed,
    decode_access_token,
    token_from,
)
from realtime.authorization import (
    RoomRefused,
    load_viewer,
    load_viewers,
    rooms_known_to_viewer,
    rooms_to_join,
)
from realtime.rooms import map_room, parse_room
from tests.factories import make_machine, make_organization, make_user
from tests.realtime.conftest import expired_token_for, token_for

pytestmark = pytest.mark.django_db


def join(user, room: str) -> list[str]:
    viewer = load_viewer(user.pk)
    assert viewer is not None
    return rooms_to_join(viewer, parse_room(room))


def refused(user, room: str) -> bool:
    try:
        join(user, room)
    except RoomRefused:
        return True
    return False


def test_viewer_knows_the_users_organizations_and_managed_ones(personas):
    viewer = load_viewer(personas.manager.pk)
    assert viewer.organization_ids == {str(personas.acme.id)}
    assert viewer.managed_organization_ids == {str(personas.acme.id)}
    operator = load_viewer(personas.operator.pk)
    assert operator.organization_ids == {str(personas.acme.id)}
    assert operator.managed_organization_ids == frozenset()


# -- machine:{id} --------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["manager", "operator", "viewer"])
def test_members_may_watch_their_organizations_machine(personas, who):
    room = f"machine:{personas.machine.id}"
    assert join(getattr(personas, who), room) == [room]


@pytest.mark.parametrize("who", ["manager", "operator", "viewer"])
def test_nobody_may_watch_another_organizations_machine(personas, who):
    assert refused(getattr(personas, who), f"machine:{personas.rival_machine.id}")
    assert refused(personas.stranger, f"machine:{personas.machine.id}")


def test_unknown_machine_is_refused_like_a_foreign_one(personas):
    with pytest.raises(RoomRefused) as unknown:
        join(personas.manager, f"machine:{uuid.uuid4()}")
    with pytest.raises(RoomRefused) as foreign:
        join(personas.manager, f"machine:{personas.rival_machine.id}")
    assert str(unknown.value) == str(foreign.value)


# -- machines:all ----------------------------------------------------------------------------


def test_live_map_is_the_users_organizations_only(personas):
    assert join(personas.viewer, "machines:all") == [map_room(personas.acme.id)]
    assert join(personas.stranger, "machines:all") == [map_room(personas.rival.id)]


def test_live_map_of_a_member_of_two_organizations_covers_both(personas):
    other = make_organization("Other")
    other_machine = make_machine(other)
    from machines.models import Membership

    Membership.objects.create(user=personas.operator, organization=other, role=Role.OPERATOR)
    assert set(join(personas.operator, "machines:all")) == {map_room(personas.acme.id),
                                                             map_room(other.id)}
    assert join(personas.operator, f"machine:{other_machine.id}") != []


def test_live_map_without_an_organization_is_refused(db):
    loner = make_user("loner")
    assert refused(loner, "machines:all")


# -- user:{id} ---------------------------------------------------------------------------------


def test_only_your_own_user_room(personas):
    assert join(personas.operator, f"user:{personas.operator.id}") == [
        f"user:{personas.operator.id}"]
    assert refused(personas.manager, f"user:{personas.operator.id}")  # not even a manager
    assert refused(personas.operator, f"user:{personas.stranger.id}")
    assert refused(personas.operator, "user:999999999")


# -- org:{id} -----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["manager", "operator", "viewer"])
def test_members_may_join_their_organization(personas, who):
    assert join(getattr(personas, who), f"org:{personas.acme.id}") == [f"org:{personas.acme.id}"]
    assert refused(getattr(personas, who), f"org:{personas.rival.id}")


def test_unknown_organization_is_refused(personas):
    assert refused(personas.manager, f"org:{uuid.uuid4()}")


# -- tasks:{assigneeId} --------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["manager", "operator", "viewer", "stranger"])
def test_everyone_may_watch_their_own_tasks(personas, who):
    user = getattr(personas, who)
    organization = personas.rival if who == "stranger" else personas.acme
    assert join(user, f"tasks:{user.id}") == [f"tasks:{user.id}:{organization.id}"]


def test_manager_may_watch_the_tasks_of_operators_of_their_organization(personas):
    assert join(personas.manager, f"tasks:{personas.operator.id}") == [
        f"tasks:{personas.operator.id}:{personas.acme.id}"]


def test_manager_may_not_watch_tasks_in_another_organization(personas):
    assert refused(personas.manager, f"tasks:{personas.stranger.id}")
    assert refused(personas.stranger, f"tasks:{personas.operator.id}")
    rival_operator = make_user("rival-operator", organization=personas.rival, role=Role.OPERATOR)
    assert refused(personas.manager, f"tasks:{rival_operator.id}")
    assert join(personas.stranger, f"tasks:{rival_operator.id}") == [
        f"tasks:{rival_operator.id}:{personas.rival.id}"]


def test_operator_may_not_watch_someone_elses_tasks(personas):
    colleague = make_user("acme-operator-2", organization=personas.acme, role=Role.OPERATOR)
    assert refused(personas.operator, f"tasks:{colleague.id}")
    assert refused(personas.operator, f"tasks:{personas.manager.id}")
    assert refused(personas.viewer, f"tasks:{personas.operator.id}")


def test_manager_of_one_organization_is_only_a_member_elsewhere(personas):
    """Managing acme gives no rights over the tasks of rival's operators, even as a rival member."""
    from machines.models import Membership

    Membership.objects.create(user=personas.manager, organization=personas.rival,
                              role=Role.VIEWER)
    rival_operator = make_user("rival-operator", organization=personas.rival, role=Role.OPERATOR)
    assert refused(personas.manager, f"tasks:{rival_operator.id}")
    assert join(personas.manager, f"machine:{personas.rival_machine.id}")  # but may view it


def test_a_task_room_stands_for_the_organizations_the_viewer_manages_only(personas):
    """A person who works for two organizations: acme's manager gets that person's acme
    tasks only, the person gets both boards, and a task event goes to the room of its own
    organization (realtime/events.py), so rival's cards never reach acme's manager."""
    from machines.models import Membership

    Membership.objects.create(user=personas.operator, organization=personas.rival,
                              role=Role.OPERATOR)
    assert join(personas.manager, f"tasks:{personas.operator.id}") == [
        f"tasks:{personas.operator.id}:{personas.acme.id}"]
    assert sorted(join(personas.operator, f"tasks:{personas.operator.id}")) == sorted(
        f"tasks:{personas.operator.id}:{org.id}" for org in (personas.acme, personas.rival))


def test_a_user_of_no_organization_watches_an_empty_task_board(personas):
    loner = make_user("loner")
    assert join(loner, f"tasks:{loner.id}") == []


def test_unknown_task_room_is_refused(personas):
    assert refused(personas.manager, "tasks:999999999")


# -- authentication helpers --------------------------------------------------------------------


def test_token_sources_in_order(personas):
    scope = {"headers": [(b"authorization", b"Bearer from-header")],
             "query_string": b"EIO=4&token=from-query"}
    assert token_from({"token": "from-auth"}, scope) == "from-auth"
    assert token_from({}, scope) == "from-header"
    assert token_from(None, {"headers": [], "query_string": b"token=from-query"}) is None
    assert token_from(None, {"headers": [(b"authorization", b"Basic x")]}) is None
    assert token_from({"token": 42}, {"headers": []}) is None


def test_decode_access_token(personas):
    identity = decode_access_token(token_for(personas.operator))
    assert identity.user_id == personas.operator.pk
    with pytest.raises(AuthenticationFailed, match="Authentication required"):
        decode_access_token(None)
    with pytest.raises(AuthenticationFailed, match="Invalid token"):
        decode_access_token("garbage")
    with pytest.raises(AuthenticationFailed, match="expired"):
        decode_access_token(expired_token_for(personas.operator))


def test_an_inactive_or_deleted_user_has_no_viewer(personas):
    personas.operator.is_active = False
    personas.operator.save()
    assert load_viewer(personas.operator.pk) is None
    stranger_id = personas.stranger.pk
    personas.stranger.delete()
    assert load_viewer(stranger_id) is None


# -- one query per connect, none per room the viewer settles ---------------------------------


def test_the_viewers_of_many_users_are_one_query(personas, django_assert_num_queries):
    loner = make_user("loner")
    users = [personas.manager, personas.operator, personas.stranger, loner]
    with django_assert_num_queries(1):
        viewers = load_viewers(user.pk for user in users)
    assert set(viewers) == {user.pk for user in users}
    assert viewers[personas.manager.pk] == load_viewer(personas.manager.pk)
    assert viewers[personas.stranger.pk].organization_ids == {str(personas.rival.id)}
    assert viewers[loner.pk].organization_ids == frozenset()


def test_a_revoked_membership_is_gone_from_the_next_viewer(personas):
    from machines.models import Membership

    assert join(personas.operator, f"org:{personas.acme.id}")
    Membership.objects.filter(user=personas.operator).delete()
    assert refused(personas.operator, f"org:{personas.acme.id}")
    assert refused(personas.operator, "machines:all")
    assert refused(personas.operator, f"machine:{personas.machine.id}")


@pytest.mark.parametrize("room", ["machines:all", "user:{me}", "org:{acme}", "tasks:{me}",
                                  "user:{other}", "org:{rival}", "tasks:{other}"])
def test_rooms_of_the_connect_path_need_no_query(personas, room, django_assert_num_queries):
    """What a dashboard joins on every (re)connect is settled by the viewer loaded at
    connect, refusals included (the operator manages nothing)."""
    viewer = load_viewer(personas.operator.pk)
    name = room.format(me=personas.operator.pk, other=personas.manager.pk,
                       acme=personas.acme.id, rival=personas.rival.id)
    with django_assert_num_queries(0):
        try:
            rooms = rooms_known_to_viewer(viewer, parse_room(name))
        except RoomRefused:
            rooms = "refused"
    assert rooms == ("refused" if "other" in room or "rival" in room
                     else rooms_to_join(viewer, parse_room(name)))


def test_machine_rooms_and_a_managers_task_rooms_ask_the_database(personas):
    manager = load_viewer(personas.manager.pk)
    assert rooms_known_to_viewer(manager, parse_room(f"machine:{personas.machine.id}")) is None
    assert rooms_known_to_viewer(manager, parse_room(f"tasks:{personas.operator.id}")) is None
