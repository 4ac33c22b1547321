"""When what a user may see changes, every open socket that depends on it is re-checked.

A membership created, deleted or given another role, a user deactivated, reactivated or
deleted: `viewers_changed` sends one control message to every server process (through the
channel layer, after the transaction commits), and each process re-authorizes the
subscriptions of the affected sockets (`FleetNamespace.reauthorize_users`): the sockets of
those users, and the sockets watching one of those users' task rooms. A subscription the
viewer may no longer hold is left at once and answered with `unsubscribed`
`{room, reason}`; a deactivated or deleted user's sockets get `auth:revoked` and are
disconnected. Without this, a removed member kept receiving an organization's events for as
long as the socket lived (tokens are refreshed on the open socket with `auth:refresh`).

The model signal receivers (machines/signals.py) call the functions below. Bulk
`QuerySet.update()`/`delete()` calls bypass signals: code that changes roles or
`is_active` in bulk calls `viewers_changed` itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from .broadcast import publish_control

#: The control message kind: `{"userIds": [...]}`.
VIEWERS_CHANGED = "viewers-changed"

_SEEN_MEMBERSHIP = "_realtime_seen_membership"
_SEEN_ACTIVE = "_realtime_seen_is_active"


def viewers_changed(user_ids: Iterable[int]) -> None:
    """Re-authorize the open sockets of these users, on every process, after the commit."""
    ids = sorted({int(user_id) for user_id in user_ids if user_id is not None})
    if ids:
        publish_control(VIEWERS_CHANGED, {"userIds": ids})


def remember_membership(membership) -> None:
    """The membership as loaded, to tell on save whether it gives other rights now."""
    fields = membership.__dict__
    setattr(membership, _SEEN_MEMBERSHIP,
            (fields.get("user_id"), fields.get("organization_id"), fields.get("role")))


def membership_saved(membership, *, created: bool) -> None:
    seen = getattr(membership, _SEEN_MEMBERSHIP, (None, None, None))
    now = (membership.user_id, membership.organization_id, membership.role)
    remember_membership(membership)
    if created or seen != now:
        viewers_changed([membership.user_id, seen[0]])


def membership_deleted(membership) -> None:
    viewers_changed([membership.user_id])


def remember_user_active(user) -> None:
    setattr(user, _SEEN_ACTIVE, user.__dict__.get("is_active"))


def user_saved(user, *, created: bool) -> None:
    seen = getattr(user, _SEEN_ACTIVE, None)
    remember_user_active(user)
    if not created and seen is not None and seen != user.is_active:
        viewers_changed([user.pk])


def user_deleted(user) -> None:
    viewers_changed([user.pk])
