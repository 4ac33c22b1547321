"""What the rules' decisions do to people: notifications for managers, refill tasks.

Rows only. Each Notification and Task save is broadcast by the model signals
(machines/signals.py, notifications/signals.py) after the transaction commits, so the
callers run these inside their transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from machines import selectors
from machines.models import (
    MANAGING_ROLES,
    OPEN_TASK_STATUSES,
    Bunker,
    Machine,
    Priority,
    Task,
    TaskKind,
)
from machines.services import announce_task_change
from notifications.messages import default_text
from notifications.models import NotificationType
from notifications.services import notify
from telemetry.rules import TEMPERATURE, EnvironmentAlert, ReportedError

User = get_user_model()


def managers_of(organization_id) -> list:
    """Active admins and managers of the organization: who receives fleet alerts."""
    return list(
        User.objects.filter(
            is_active=True,
            memberships__organization_id=organization_id,
            memberships__role__in=MANAGING_ROLES,
        ).distinct().order_by("pk")
    )


def refill_assignee_id(machine: Machine) -> int | None:
    """The machine's responsible operator while they are an active operator of its
    organization; None otherwise (someone who left must not receive the organization's
    work: the task stays unassigned for a manager to hand out)."""
    operator_id = machine.responsible_operator_id
    if not selectors.is_operator_of(operator_id, machine.organization_id):
        return None
    return operator_id


def open_refill_task(*, machine: Machine, bunker: Bunker, level: int) -> Task | None:
    """A refill task for `bunker`, assigned to the machine's responsible operator
    (see `refill_assignee_id`), who is notified as of any task given to them.

    None when one is already open: the database's `one_open_refill_task_per_bunker`
    constraint is the guarantee, the query only avoids a failed insert in the usual case.
    """
    open_tasks = Task.objects.filter(bunker=bunker, kind=TaskKind.REFILL,
                                     status__in=OPEN_TASK_STATUSES)
    if open_tasks.exists():
        return None
    assignee_id = refill_assignee_id(machine)
    try:
        with transaction.atomic():  # a savepoint: losing the race must not break the batch
            task = Task.objects.create(
                organization_id=machine.organization_id, machine=machine, bunker=bunker,
                assignee_id=assignee_id, kind=TaskKind.REFILL, priority=Priority.HIGH,
                **refill_texts(machine=machine, bunker=bunker, level=level),
            )
            # The operator hears of it as of any task given to them: once, as the task is
            # opened once per low episode (the constraint above).
            announce_task_change(task=task, previous_assignee_id=None,
                                 previous_status=task.status, actor=None)
            return task
    except IntegrityError:
        return None


def refill_texts(*, machine: Machine, bunker: Bunker, level: int) -> dict:
    """The title and notes of a refill task the server opens, as Task fields: keyed, with
    the site's default language stored beside the keys."""
    params = bunker_params(machine=machine, bunker=bunker, level=level)
    return {"params": params,
            "title_key": "refill.title", "title": default_text("refill.title", params)[:200],
            "notes_key": "refill.notes", "notes": default_text("refill.notes", params)}


def bunker_params(*, machine: Machine, bunker: Bunker, level: int) -> dict:
    return {"ingredient": bunker.ingredient.name, "machine": machine.name, "level": level,
            "capacity": bunker.capacity_grams, "threshold": bunker.low_level_threshold_percent}


def bunker_went_low(*, machine: Machine, bunker: Bunker, level: int, managers: Sequence) -> None:
    notify(
        recipients=managers, organization_id=machine.organization_id, machine=machine,
        type=NotificationType.WARNING, priority=Priority.HIGH,
        title_key="bunker_low.title", message_key="bunker_low.message",
        params=bunker_params(machine=machine, bunker=bunker, level=level),
    )
    open_refill_task(machine=machine, bunker=bunker, level=level)


def environment_alert(*, machine: Machine, alert: EnvironmentAlert, managers: Sequence) -> None:
    kind = "too_hot" if alert.kind == TEMPERATURE else "too_humid"
    notify(recipients=managers, organization_id=machine.organization_id, machine=machine,
           type=NotificationType.WARNING, priority=Priority.MEDIUM,
           title_key=f"{kind}.title", message_key=f"{kind}.message",
           params={"machine": machine.name, "value": alert.value, "limit": alert.limit})


def critical_error(*, machine: Machine, error: ReportedError, managers: Sequence) -> None:
    # The message is the device's own words: stored as sent, not translated.
    notify(
        recipients=managers, organization_id=machine.organization_id, machine=machine,
        type=NotificationType.ERROR, priority=Priority.HIGH,
        title_key="critical_error.title", params={"code": error.code, "machine": machine.name},
        message=error.message or error.code,
    )


def machine_went_offline(*, machine: Machine, last_seen_at: datetime | None, now: datetime,
                         managers: Sequence) -> None:
    params = {"machine": machine.name, "interval": machine.telemetry_interval_seconds}
    if last_seen_at is None:
        message_key = "offline.never"
    else:
        message_key = "offline.silent"
        params["silent"] = str(timedelta(seconds=int((now - last_seen_at).total_seconds())))
    notify(recipients=managers, organization_id=machine.organization_id, machine=machine,
           type=NotificationType.WARNING, priority=Priority.HIGH,
           title_key="offline.title", message_key=message_key, params=params)
