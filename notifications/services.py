"""Writes to notifications: marking them read or unread."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from notifications.models import Notification


def mark_read(*, notification: Notification) -> Notification:
    """Mark one notification read (no write when it already is)."""
    if not notification.read:
        notification.read = True
        notification.save(update_fields=["read", "updated_at"])
    return notification


def mark_all_read(*, recipient: AbstractBaseUser) -> int:
    """Mark every unread notification of `recipient` read; returns how many changed."""
    return set_read(notifications=Notification.objects.filter(recipient=recipient), read=True)


def set_read(*, notifications: QuerySet[Notification], read: bool) -> int:
    """Set the read flag of `notifications` (already scoped by the caller); returns how many
    changed. One UPDATE: being read is not broadcast, so no per-row save is needed."""
    return notifications.exclude(read=read).update(read=read)
