"""Who may join which room. Plain functions over the ORM (call them through
`database_sync_to_async`); the consumer layer only asks.

Every room is checked against the viewer's organizations: nobody joins a room that
would show another organization's events. The viewer is loaded at connect and loaded again
whenever its memberships may have changed (realtime/access.py re-authorizes every open
subscription then, and on `auth:refresh`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth import get_user_model

from machines.models import MANAGING_ROLES, Machine, Membership

from .rooms import Room, RoomKind, map_room, organization_room, tasks_room
from .server.interning import SharedValues, interned


class RoomRefused(Exception):
    """The viewer may not join this room; the message is shown to the client."""


@dataclass(frozen=True, slots=True)
class Viewer:
    """What the gateway knows of an authenticated user, loaded once at connect (kept by each
    of its sockets: slots, and organization sets shared between viewers, see `_shared`)."""

    user_id: int
    organization_ids: frozenset[str]
    managed_organization_ids: frozenset[str]
    #: The language the user's events are written in; None until one is remembered.
    language: str | None = None


#: Organization-id sets by value: the viewers of one organization share one set (and one
#: string per organization id) instead of a copy each, as a process holds a viewer per socket.
_shared = SharedValues(lambda organization_ids: frozenset(interned(organization_ids)))


def load_viewers(user_ids: Iterable[int]) -> dict[int, Viewer]:
    """The viewers of the active users among `user_ids` (a missing key: no such user, or
    deactivated). One query, whatever the number of users: connects that arrive together
    share it."""
    rows = (
        get_user_model().objects.filter(pk__in=list(user_ids), is_active=True)
        .values_list("pk", "memberships__organization_id", "memberships__role",
                     "language_preference__language")
    )
    memberships: dict[int, list[tuple[str, str]]] = {}
    languages: dict[int, str | None] = {}
    for user_id, organization_id, role, language in rows:
        found = memberships.setdefault(user_id, [])
        languages[user_id] = language
        if organization_id is not None:  # a user of no organization still gets a viewer
            found.append((str(organization_id), role))
    return {
        user_id: Viewer(
            user_id=user_id,
            organization_ids=_shared(frozenset(org for org, _ in found)),
            managed_organization_ids=_shared(frozenset(
                org for org, role in found if role in MANAGING_ROLES)),
            language=languages[user_id],
        )
        for user_id, found in memberships.items()
    }


def load_viewer(user_id: int) -> Viewer | None:
    """The viewer of an active user; None when the user is gone or deactivated."""
    return load_viewers([user_id]).get(user_id)


_TASKS_REFUSAL = "you may only join your own task room, or your operators' as a manager"


def rooms_known_to_viewer(viewer: Viewer, room: Room) -> list[str] | None:
    """`rooms_to_join` when the viewer loaded at connect settles it without a query (the
    live map, the viewer's own user, organization and task rooms, and every refusal that
    follows from the viewer alone); None when the database must be asked."""
    if room.kind is RoomKind.LIVE_MAP:
        if not viewer.organization_ids:
            raise RoomRefused("you belong to no organization")
        return [map_room(org) for org in sorted(viewer.organization_ids)]
    if room.kind is RoomKind.USER:
        if room.key != str(viewer.user_id):
            raise RoomRefused("you may only join your own user room")
        return [room.name]
    if room.kind is RoomKind.ORGANIZATION:
        if room.key not in viewer.organization_ids:
            raise RoomRefused("no such organization")
        return [organization_room(room.key)]
    if room.kind is RoomKind.TASKS:
        if room.key == str(viewer.user_id):
            # One's own tasks, in each organization one works for (none: nothing to show).
            return [tasks_room(room.key, org) for org in sorted(viewer.organization_ids)]
        if not viewer.managed_organization_ids:
            raise RoomRefused(_TASKS_REFUSAL)
        return None
    if room.kind is RoomKind.MACHINE:
        if not viewer.organization_ids:
            raise RoomRefused("no such machine")
        return None
    raise RoomRefused("unknown room")


def machine_organizations(machine_ids: Iterable[str]) -> dict[str, str]:
    """`{machine id: organization id}` of the machines among `machine_ids`, in one query:
    the gateway authorizes the machine rooms asked for together in one read."""
    return {
        str(pk): str(organization_id)
        for pk, organization_id in Machine.objects.filter(pk__in=list(machine_ids))
        .values_list("pk", "organization_id")
    }


def sees_machine_of(viewer: Viewer, organization_id: str | None) -> bool:
    """Whether `viewer` may see a machine of this organization (None: no such machine)."""
    return organization_id is not None and organization_id in viewer.organization_ids


def machine_rooms(viewer: Viewer, room: Room, organization_id: str | None) -> list[str]:
    """The rooms of a `machine:{id}` subscription, given the machine's organization (None:
    no such machine), or RoomRefused: a machine of another organization reads as missing."""
    if not sees_machine_of(viewer, organization_id):
        raise RoomRefused("no such machine")
    return [room.name]


def rooms_to_join(viewer: Viewer, room: Room) -> list[str]:
    """The internal rooms a subscription to `room` stands for, or RoomRefused.

    Unknown ids and other organizations' objects get the same answer, so a refusal does
    not reveal whether something exists.
    """
    rooms = rooms_known_to_viewer(viewer, room)
    if rooms is not None:
        return rooms
    if room.kind is RoomKind.MACHINE:
        return machine_rooms(viewer, room, machine_organizations([room.key]).get(room.key))
    # RoomKind.TASKS of another user, asked by a manager: that person's tasks in the
    # organizations the viewer manages and the person belongs to, never in the others.
    shared = sorted(str(org) for org in Membership.objects.filter(
        user_id=int(room.key), organization_id__in=viewer.managed_organization_ids
    ).values_list("organization_id", flat=True))
    if not shared:
        raise RoomRefused(_TASKS_REFUSAL)
    return [tasks_room(room.key, org) for org in shared]
