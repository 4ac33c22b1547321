"""Writes to notifications: creating them from a message key, marking them read or unread,
a reader's language."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from machines.models import Priority
from notifications import messages
from notifications.models import LanguagePreference, Notification, NotificationType
from realtime import events
from vendhub.people import display_name


def notify(*, recipients: Sequence, organization_id, machine=None, title_key: str,
           params: Mapping[str, Any], message_key: str = "", message: str = "",
           type: str, priority: str, dedup_key: str = "") -> list[Notification]:
    """One notification per recipient, keyed (`notifications.messages`) so that each reader
    gets it in their language; `message` is a text of its own (a device's words) used when
    there is no `message_key`. Saved one by one: each save is broadcast to its recipient.
    With a `dedup_key`, the database keeps one per recipient and key (the caller checks
    first; a concurrent duplicate fails with IntegrityError)."""
    params = dict(params)
    title = messages.default_text(title_key, params)[:200]
    if message_key:
        message = messages.default_text(message_key, params)
    return [
        Notification.objects.create(
            recipient=recipient, organization_id=organization_id, machine=machine,
            title_key=title_key, message_key=message_key, params=params,
            title=title, message=message, type=type, priority=priority, dedup_key=dedup_key,
        )
        for recipient in recipients
    ]


# -- the task workflow's notifications (machines.services decides when) -------------------
# One function per kind; the texts are keys of notifications.messages, rendered per reader.
# High priority: the dashboard toasts high ones only, and each of these changes what its
# reader does next (drive to a machine or not; check or hand out the work).


def _task_params(task, actor) -> dict[str, Any]:
    # A server-written title goes in keyed: the notification reads it in its own language.
    return {"task": task.title_param(), "machine": task.machine.name,
            "actor": display_name(actor) or "—"}


def _notify_about_task(task, *, recipients: Sequence, kind: str, actor, type: str,
                       priority: str, message_key: str = "") -> list[Notification]:
    return notify(recipients=recipients, organization_id=task.organization_id,
                  machine=task.machine, title_key=f"{kind}.title",
                  message_key=message_key or f"{kind}.message",
                  params=_task_params(task, actor), type=type, priority=priority)


def task_assigned(*, task, actor) -> list[Notification]:
    """To the task's new assignee: it is on their board now. Without an actor the server
    gave it (a refill task a low reading opened for the machine's responsible operator, a
    collection task a full cash box opened)."""
    automatic = ("task_assigned.automatic_collection" if task.kind == "collection"
                 else "task_assigned.automatic")
    return _notify_about_task(task, recipients=[task.assignee], kind="task_assigned",
                              actor=actor, type=NotificationType.INFO, priority=Priority.HIGH,
                              message_key="" if actor else automatic)


def task_unassigned(*, task, previous_assignee, actor) -> list[Notification]:
    """To the operator a task was taken from (given to someone else or to nobody)."""
    return _notify_about_task(task, recipients=[previous_assignee], kind="task_unassigned",
                              actor=actor, type=NotificationType.INFO, priority=Priority.HIGH)


def task_done(*, task, managers: Sequence, actor) -> list[Notification]:
    """To the organization's managers: an operator finished a task."""
    return _notify_about_task(task, recipients=managers, kind="task_done", actor=actor,
                              type=NotificationType.SUCCESS, priority=Priority.HIGH)


def task_rejected(*, task, managers: Sequence, actor) -> list[Notification]:
    """To the organization's managers: an operator could not do a task; it needs them."""
    return _notify_about_task(task, recipients=managers, kind="task_rejected", actor=actor,
                              type=NotificationType.WARNING, priority=Priority.HIGH)


def set_language(*, user: AbstractBaseUser, language: str) -> str:
    """Remember the language `user` reads in (for what reaches them with no request at hand,
    e.g. socket events); returns the language kept (an unknown one becomes the default)."""
    language = messages.language_of(language)
    LanguagePreference.objects.update_or_create(user=user, defaults={"language": language})
    return language


def remember_language_if_unset(*, user_id: int, language: str) -> bool:
    """Remember `language` for a user who never chose one (the language their browser asked
    for when they connected), never overriding a choice; True when it was remembered."""
    _preference, created = LanguagePreference.objects.get_or_create(
        user_id=user_id, defaults={"language": messages.language_of(language)})
    return created


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
