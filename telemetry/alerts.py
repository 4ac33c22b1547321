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
from django.utils.translation import gettext as _

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
from notifications.models import Notification, NotificationType
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


def notify(*, recipients: Sequence, machine: Machine, title: str, message: str, type: str,
           priority: str) -> list[Notification]:
    """One notification per recipient (saved one by one: each save is broadcast)."""
    return [
        Notification.objects.create(
            recipient=recipient, organization_id=machine.organization_id, machine=machine,
            title=title[:200], message=message, type=type, priority=priority,
        )
        for recipient in recipients
    ]


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
    (see `refill_assignee_id`).

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
            return Task.objects.create(
                organization_id=machine.organization_id, machine=machine, bunker=bunker,
                assignee_id=assignee_id, kind=TaskKind.REFILL,
                priority=Priority.HIGH,
                title=_("Refill %(ingredient)s at %(machine)s") % {
                    "ingredient": bunker.ingredient.name, "machine": machine.name},
                notes=_("%(level)d g of %(capacity)d g left, under the %(threshold)d%% threshold.")
                % {"level": level, "capacity": bunker.capacity_grams,
                   "threshold": bunker.low_level_threshold_percent},
            )
    except IntegrityError:
        return None


def bunker_went_low(*, machine: Machine, bunker: Bunker, level: int, managers: Sequence) -> None:
    notify(
        recipients=managers, machine=machine, type=NotificationType.WARNING,
        priority=Priority.HIGH,
        title=_("Low %(ingredient)s at %(machine)s") % {
            "ingredient": bunker.ingredient.name, "machine": machine.name},
        message=_("%(level)d g of %(capacity)d g left (under %(threshold)d%%).") % {
            "level": level, "capacity": bunker.capacity_grams,
            "threshold": bunker.low_level_threshold_percent},
    )
    open_refill_task(machine=machine, bunker=bunker, level=level)


def environment_alert(*, machine: Machine, alert: EnvironmentAlert, managers: Sequence) -> None:
    if alert.kind == TEMPERATURE:
        title = _("Too hot: %(machine)s") % {"machine": machine.name}
        message = _("%(value).1f °C, above the %(limit).1f °C limit.")
    else:
        title = _("Too humid: %(machine)s") % {"machine": machine.name}
        message = _("%(value).1f %% humidity, above the %(limit).1f %% limit.")
    notify(recipients=managers, machine=machine, type=NotificationType.WARNING,
           priority=Priority.MEDIUM, title=title,
           message=message % {"value": alert.value, "limit": alert.limit})


def critical_error(*, machine: Machine, error: ReportedError, managers: Sequence) -> None:
    notify(
        recipients=managers, machine=machine, type=NotificationType.ERROR, priority=Priority.HIGH,
        title=_("Critical error %(code)s at %(machine)s") % {
            "code": error.code, "machine": machine.name},
        message=error.message or error.code,
    )


def machine_went_offline(*, machine: Machine, last_seen_at: datetime | None, now: datetime,
                         managers: Sequence) -> None:
    if last_seen_at is None:
        message = _("Never reported telemetry.")
    else:
        silent = timedelta(seconds=int((now - last_seen_at).total_seconds()))
        message = _("Silent for %(silent)s (expected every %(interval)d s).") % {
            "silent": silent, "interval": machine.telemetry_interval_seconds}
    notify(recipients=managers, machine=machine, type=NotificationType.WARNING,
           priority=Priority.HIGH, title=_("%(machine)s is offline") % {"machine": machine.name},
           message=message)
