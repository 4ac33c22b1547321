"""Who may join which room. Plain functions over the ORM (call them through
`database_sync_to_async`); the consumer layer only asks.

Every room is checked against the viewer's organizations: nobody joins a room that
would show another organization's events.
"""

from __future__ import annotations

from dataclasses import dataclass

from machines.models import MANAGING_ROLES, Machine, Membership

from .rooms import Room, RoomKind, map_room, organization_room


class RoomRefused(Exception):
    """The viewer may not join this room; the message is shown to the client."""


@dataclass(frozen=True)
class Viewer:
    """What the gateway knows of an authenticated user, loaded once at connect."""

    user_id: int
    organization_ids: frozenset[str]
    managed_organization_ids: frozenset[str]


def load_viewer(user_id: int) -> Viewer:
    memberships = list(
        Membership.objects.filter(user_id=user_id).values_list("organization_id", "role")
    )
    return Viewer(
        user_id=user_id,
        organization_ids=frozenset(str(org) for org, _ in memberships),
        managed_organization_ids=frozenset(
            str(org) for org, role in memberships if role in MANAGING_ROLES
        ),
    )


def rooms_to_join(viewer: Viewer, room: Room) -> list[str]:
    """The internal rooms a subscription to `room` stands for, or RoomRefused.

    Unknown ids and other organizations' objects get the same answer, so a refusal does
    not reveal whether something exists.
    """
    if room.kind is RoomKind.LIVE_MAP:
        if not viewer.organization_ids:
            raise RoomRefused("you belong to no organization")
        return [map_room(org) for org in sorted(viewer.organization_ids)]
    if room.kind is RoomKind.MACHINE:
        if not Machine.objects.filter(
            id=room.key, organization_id__in=viewer.organization_ids
        ).exists():
            raise RoomRefused("no such machine")
        return [room.name]
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
            return [room.name]
        if viewer.managed_organization_ids and Membership.objects.filter(
            user_id=int(room.key), organization_id__in=viewer.managed_organization_ids
        ).exists():
            return [room.name]
        raise RoomRefused("you may only join your own task room, or your operators' as a manager")
    raise RoomRefused("unknown room")
