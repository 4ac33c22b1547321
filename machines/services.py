"""Writes to the fleet: task workflow and machine maintenance.

Objects are saved one by one with `save(update_fields=...)`, never with `QuerySet.update`,
so that the post-save receivers (realtime broadcasts) see every change.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from machines import selectors
from machines.models import (
    HELD_STATUSES,
    PERSON_SETTABLE_STATUSES,
    Machine,
    MachineStatus,
    Priority,
    Task,
    TaskStatus,
)
from notifications import services as notices


class TaskPermissionDenied(PermissionDenied):
    """The actor may not make this change to this task (DRF answers 403)."""


class InvalidAssignee(ValueError):
    """The assignee is not an operator of the task's organization."""


class MachinePermissionDenied(PermissionDenied):
    """The actor may not change this machine (DRF answers 403)."""


def mark_status_change(*, machine: Machine, status: str, actor: AbstractBaseUser | None,
                       now: datetime | None = None) -> list[str]:
    """Set `machine.status` to `status` as a person's change, without saving: entering a
    held status records who and since when; leaving it clears them. Returns the fields
    changed (for `save(update_fields=...)`); none when the status is already `status`."""
    if machine.status == status:
        return []
    machine.status = status
    if status in HELD_STATUSES:
        machine.status_set_by = actor
        machine.status_set_at = now or timezone.now()
    else:
        machine.status_set_by = None
        machine.status_set_at = None
    return ["status", "status_set_by", "status_set_at"]


def set_machine_status(*, machine: Machine, status: str, actor: AbstractBaseUser) -> Machine:
    """A manager of the machine's organization sets its status (`PERSON_SETTABLE_STATUSES`).

    Maintenance holds until a person ends it; `online` ends it. The save emits one
    `machine:status` (machines/signals.py) after the commit. Raises MachinePermissionDenied
    for anyone else, ValueError for a status a person may not set.
    """
    if status not in PERSON_SETTABLE_STATUSES:
        raise ValueError(f"a person may not set status {status!r}")
    if not selectors.is_manager_of(actor, machine.organization_id):
        raise MachinePermissionDenied("Only a manager of the organization may set the status.")
    with transaction.atomic():
        # Locked: a reading being ingested applies before or after, never half over this.
        locked = Machine.objects.select_for_update(of=("self",)).get(pk=machine.pk)
        changed = mark_status_change(machine=locked, status=status, actor=actor)
        if changed:
            locked.updated_by = actor
            locked.save(update_fields=[*changed, "updated_by", "updated_at"])
    return locked


#: Task fields only a manager may edit (besides `assignee`, see `assign_task`).
MANAGER_EDITABLE_FIELDS = ("title", "notes", "priority", "due_at")


def completed_at_for(*, status: str, completed_at: datetime | None) -> datetime | None:
    """The completion time a task should carry once its status is `status`."""
    if status == TaskStatus.DONE:
        return completed_at or timezone.now()
    return None


def can_change_task_status(*, task: Task, actor: AbstractBaseUser) -> bool:
    """A manager of the task's organization may; so may the operator it is assigned to."""
    if selectors.is_manager_of(actor, task.organization_id):
        return True
    return (
        task.assignee_id is not None
        and task.assignee_id == actor.pk
        and selectors.is_operator_of(actor, task.organization_id)
    )


#: Statuses that end an operator's part: the organization's managers hear of them.
_CLOSING_NOTICES = {TaskStatus.DONE: notices.task_done, TaskStatus.REJECTED: notices.task_rejected}


def announce_task_change(*, task: Task, previous_assignee_id: int | None,
                         previous_status: str | None, actor: AbstractBaseUser | None) -> None:
    """The notifications of a change to `task` (already saved; every path that changes a
    task calls this, the admin's form included): its new assignee hears that it is on their
    board, the previous one that it left it, and the organization's managers that it was
    done or rejected. Nobody is told of their own doing."""
    actor_id = getattr(actor, "pk", None)
    if task.assignee_id != previous_assignee_id:
        if task.assignee_id is not None and task.assignee_id != actor_id:
            notices.task_assigned(task=task, actor=actor)
        if previous_assignee_id is not None and previous_assignee_id != actor_id:
            previous = selectors.User.objects.filter(pk=previous_assignee_id,
                                                     is_active=True).first()
            if previous is not None:  # someone who left hears nothing more
                notices.task_unassigned(task=task, previous_assignee=previous, actor=actor)
    closing = _CLOSING_NOTICES.get(task.status)
    if closing is not None and task.status != previous_status:
        managers = [m for m in selectors.active_managers_of(task.organization_id)
                    if m.pk != actor_id]
        if managers:
            closing(task=task, managers=managers, actor=actor)


def change_task_status(*, task: Task, status: str, actor: AbstractBaseUser) -> Task:
    """Move `task` to `status`; sets `completed_at` on done and clears it when reopened.
    Done and rejected (the assignee could not do it) notify the organization's managers.

    Raises TaskPermissionDenied unless `actor` manages the organization or is the
    task's assignee (an operator of the organization).
    """
    if status not in TaskStatus.values:
        raise ValueError(f"unknown task status {status!r}")
    if not can_change_task_status(task=task, actor=actor):
        raise TaskPermissionDenied("Only the assignee or a manager may change this task.")
    if task.status == status:
        return task
    previous = task.status
    task.status = status
    task.completed_at = completed_at_for(status=status, completed_at=task.completed_at)
    task.save(update_fields=["status", "completed_at", "updated_at"])
    announce_task_change(task=task, previous_assignee_id=task.assignee_id,
                         previous_status=previous, actor=actor)
    return task


def _require_manager(*, task_or_org_id: Any, actor: AbstractBaseUser) -> None:
    if not selectors.is_manager_of(actor, task_or_org_id):
        raise TaskPermissionDenied("Only a manager of the organization may do this.")


def _check_assignee(*, organization_id: Any, assignee: AbstractBaseUser | None) -> None:
    if assignee is not None and not selectors.is_operator_of(assignee, organization_id):
        raise InvalidAssignee("The assignee must be an operator of the task's organization.")


def assign_task(*, task: Task, assignee: AbstractBaseUser | None, actor: AbstractBaseUser) -> Task:
    """Give `task` to `assignee` (an operator of its organization) or to nobody (None).

    Managers only: raises TaskPermissionDenied otherwise, InvalidAssignee for a user who is
    not an operator of the task's organization.
    """
    _require_manager(task_or_org_id=task.organization_id, actor=actor)
    _check_assignee(organization_id=task.organization_id, assignee=assignee)
    if task.assignee_id != getattr(assignee, "pk", None):
        previous = task.assignee_id
        task.assignee = assignee
        task.save(update_fields=["assignee", "updated_at"])
        announce_task_change(task=task, previous_assignee_id=previous,
                             previous_status=task.status, actor=actor)
    return task


#: The keyed texts of a server-written task, by the field a person may rewrite.
_TEXT_KEYS = {"title": "title_key", "notes": "notes_key"}


def drop_server_keys(*, task: Task, edited: Iterable[str]) -> list[str]:
    """A title or notes a person wrote is theirs from then on, shown as written to every
    reader: forget the server's key of each edited text. Returns the key fields cleared."""
    cleared = []
    for name in edited:
        key_field = _TEXT_KEYS.get(name)
        if key_field and getattr(task, key_field):
            setattr(task, key_field, "")
            cleared.append(key_field)
    return cleared


@transaction.atomic
def update_task(*, task: Task, actor: AbstractBaseUser, **changes: Any) -> Task:
    """Apply a partial update: `status`, `assignee` and the fields of MANAGER_EDITABLE_FIELDS.

    The status follows `change_task_status`'s rule; everything else needs a manager.
    All or nothing: a refused part leaves the task unchanged.
    """
    unknown = set(changes) - {"status", "assignee", *MANAGER_EDITABLE_FIELDS}
    if unknown:
        raise ValueError(f"cannot update task fields {sorted(unknown)}")
    edits = {name: value for name, value in changes.items() if name in MANAGER_EDITABLE_FIELDS}
    if edits or "assignee" in changes:
        _require_manager(task_or_org_id=task.organization_id, actor=actor)
    if "assignee" in changes:
        assign_task(task=task, assignee=changes["assignee"], actor=actor)
    if edits:
        for name, value in edits.items():
            setattr(task, name, value)
        keys = drop_server_keys(task=task, edited=edits)
        task.save(update_fields=[*edits, *keys, "updated_at"])
    if "status" in changes:
        change_task_status(task=task, status=changes["status"], actor=actor)
    return task


def create_task(
    *,
    actor: AbstractBaseUser,
    machine: Machine,
    kind: str,
    title: str,
    assignee: AbstractBaseUser | None = None,
    priority: str = Priority.MEDIUM,
    notes: str = "",
    due_at: datetime | None = None,
) -> Task:
    """A new task at `machine`, created by a manager of the machine's organization."""
    _require_manager(task_or_org_id=machine.organization_id, actor=actor)
    _check_assignee(organization_id=machine.organization_id, assignee=assignee)
    task = Task.objects.create(
        organization_id=machine.organization_id,
        machine=machine,
        kind=kind,
        title=title,
        assignee=assignee,
        priority=priority,
        notes=notes,
        due_at=due_at,
        created_by=actor,
    )
    announce_task_change(task=task, previous_assignee_id=None, previous_status=task.status,
                         actor=actor)
    return task


# Bulk operations of the admin back office. The admin has already scoped the objects to the
# staff member's organizations and checked the model permission.


def put_machines_into_maintenance(
    *, machines: Iterable[Machine], actor: AbstractBaseUser | None
) -> int:
    """Set every machine not already there to maintenance, held by `actor`; returns how
    many changed."""
    changed = 0
    for machine in machines:
        fields = mark_status_change(machine=machine, status=MachineStatus.MAINTENANCE,
                                    actor=actor)
        if not fields:
            continue
        machine.updated_by = actor
        machine.save(update_fields=[*fields, "updated_by", "updated_at"])
        changed += 1
    return changed


def set_tasks_status(*, tasks: Iterable[Task], status: str,
                     actor: AbstractBaseUser | None = None) -> int:
    """Move every task not already in `status` there (admin "close" actions)."""
    changed = 0
    for task in tasks:
        if task.status == status:
            continue
        previous = task.status
        task.status = status
        task.completed_at = completed_at_for(status=status, completed_at=task.completed_at)
        task.save(update_fields=["status", "completed_at", "updated_at"])
        announce_task_change(task=task, previous_assignee_id=task.assignee_id,
                             previous_status=previous, actor=actor)
        changed += 1
    return changed


def assign_tasks_to_responsible_operator(*, tasks: Iterable[Task],
                                         actor: AbstractBaseUser | None = None) -> int:
    """Give each task to its machine's responsible operator, when that user is an operator
    of the task's organization; returns how many tasks changed hands."""
    changed = 0
    for task in tasks:
        operator_id = task.machine.responsible_operator_id
        if operator_id is None or operator_id == task.assignee_id:
            continue
        if not selectors.is_operator_of(operator_id, task.organization_id):
            continue
        previous = task.assignee_id
        task.assignee_id = operator_id
        task.save(update_fields=["assignee", "updated_at"])
        announce_task_change(task=task, previous_assignee_id=previous,
                             previous_status=task.status, actor=actor)
        changed += 1
    return changed
