"""Writes to notifications: marking them read or unread."""

from __future__ import annotations

from collections import defaultdict

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from notifications.models import Notification
from realtime import events


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
    changed. One UPDATE instead of a save per row; each recipient then gets one
    `notifications:read` event naming the changed ids (after the commit)."""
    with transaction.atomic():
        changed = list(notifications.exclude(read=read).select_for_update()
                       .values_list("id", "recipient_id"))
        Notification.objects.filter(id__in=[pk for pk, _ in changed]).update(
            read=read, updated_at=timezone.now())
        by_recipient: dict[int, list] = defaultdict(list)
        for pk, recipient_id in changed:
            by_recipient[recipient_id].append(pk)
        for recipient_id, ids in by_recipient.items():
            events.emit_notifications_read(recipient_id=recipient_id, ids=ids, read=read)
    return len(changed)
