"""Writes of a visit: the operator's actions at a machine, as the phone sends them.

`apply_visit_action` is the one entry. Each action carries the phone's own id
(`VisitAction.client_id`): a phone replays its queue after a dropped connection, and an
action seen before returns what it did without doing it again. Actions of one route are
applied one at a time (the route row is locked), so "all visits finished, the route is
done" is decided on what the other actions left, and a concurrent duplicate of an action
waits for the first and then finds it (or, on another route, loses on the primary key).

Everything an action changes is broadcast after the commit: `route:updated` for the route,
`machine:telemetry` for the bunker levels a fill moved (what the monitor and the map read
from telemetry), and the task events and notifications of `machines.services` for the
tasks a check-out or a cash count closes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from machines.models import OPEN_TASK_STATUSES, Bunker, Machine, Task, TaskKind, TaskStatus
from machines.selectors import is_manager_of, is_operator_of
from machines.services import set_tasks_status
from operations import rules_visits as rules
from operations.events import emit_route_updated
from operations.models import (
    Route,
    RouteStatus,
    SlotStock,
    Visit,
    VisitAction,
    VisitLine,
    VisitStatus,
)
from operations.selectors import with_route_details
from realtime import events
from sales import cash
from sales.selectors import planogram_at


class VisitActionRejected(Exception):
    """An action the visit's state or its content does not allow: `errors` maps the field
    (`kind`, `clientId`, `payload`) to its messages."""

    def __init__(self, errors: dict) -> None:
        super().__init__(errors)
        self.errors = errors


class VisitActionForbidden(Exception):
    """Only the route's operator or a manager of its organization may act on its visits."""


@dataclass(frozen=True)
class VisitActionOutcome:
    action: VisitAction
    replayed: bool  # seen before: nothing was done this time
    route: Route  # with its visits and lines (operations.selectors.with_route_details)


def may_act_on(*, route: Route, user) -> bool:
    """The route's operator while an operator of its organization, or a manager of it."""
    if is_manager_of(user, route.organization_id):
        return True
    return route.operator_id == user.pk and is_operator_of(user, route.organization_id)


def apply_visit_action(*, visit: Visit, user, client_id: uuid.UUID, kind: str, payload: dict,
                       now: datetime | None = None) -> VisitActionOutcome:
    """Apply one action (`kind` of `rules_visits.KINDS`, `payload` as validated by
    `operations.serializers_visits`) to `visit`, once per `client_id`.

    Raises VisitActionForbidden unless `user` may act (`may_act_on`; the caller has scoped
    the visit to the user's organizations), VisitActionRejected for an action the visit's
    state does not allow or a client id used for another action.
    """
    now = now or timezone.now()
    route = Route.objects.get(pk=visit.route_id)
    if not may_act_on(route=route, user=user):
        raise VisitActionForbidden
    with transaction.atomic():
        route = Route.objects.select_for_update().get(pk=route.pk)
        stored = VisitAction.objects.filter(pk=client_id).first()
        if stored is None:
            try:
                with transaction.atomic():  # a savepoint: a duplicate must not end ours
                    stored = VisitAction.objects.create(client_id=client_id, visit_id=visit.pk,
                                                        user=user, kind=kind, payload=payload)
            except IntegrityError:  # a concurrent duplicate committed it first
                stored = VisitAction.objects.get(pk=client_id)
            else:
                _apply(stored, route=route, user=user, now=now)
                return VisitActionOutcome(stored, False, _emit(route))
    if stored.visit_id != visit.pk or stored.kind != kind:
        raise VisitActionRejected({"clientId": [_("This id was used for another action.")]})
    return VisitActionOutcome(stored, True, _detailed(route.pk))


def _detailed(route_id) -> Route:
    return with_route_details(Route.objects.filter(pk=route_id)).get()


def _emit(route: Route) -> Route:
    detailed = _detailed(route.pk)
    emit_route_updated(detailed)
    return detailed


def _apply(action: VisitAction, *, route: Route, user, now: datetime) -> None:
    visit = Visit.objects.select_related("machine__organization").get(pk=action.visit_id)
    error = rules.action_state_error(kind=action.kind, visit_status=visit.status,
                                     route_status=route.status)
    if error:
        raise VisitActionRejected({"kind": [error]})
    _APPLY[action.kind](visit=visit, route=route, user=user, payload=action.payload, now=now)


def _check_in(*, visit: Visit, route: Route, user, payload: dict, now: datetime) -> None:
    visit.status, visit.checked_in_at = VisitStatus.CHECKED_IN, now
    lat, lng = payload.get("lat"), payload.get("lng")
    if lat is not None and lng is not None:
        visit.check_in_latitude = Decimal(str(round(lat, 6)))
        visit.check_in_longitude = Decimal(str(round(lng, 6)))
    visit.save(update_fields=["status", "checked_in_at", "check_in_latitude",
                              "check_in_longitude", "updated_at"])
    if route.status == RouteStatus.PLANNED:
        route.status = RouteStatus.IN_PROGRESS
        route.save(update_fields=["status", "updated_at"])


def _fill(*, visit: Visit, route: Route, user, payload: dict, now: datetime) -> None:
    wanted = {item["lineId"]: item["filledQuantity"] for item in payload["lines"]}
    lines = {str(line.pk): line for line in VisitLine.objects.filter(visit=visit,
                                                                   pk__in=list(wanted))}
    unknown = sorted(set(wanted) - set(lines))
    if unknown:
        raise VisitActionRejected({"payload": {"lines": [
            _("Not a line of this visit: %(ids)s.") % {"ids": ", ".join(unknown)}]}})
    machine = visit.machine
    # The machine's lock, as telemetry ingestion takes it: a reading being stored applies
    # before or after this fill, never half over it.
    Machine.objects.select_for_update(of=("self",)).filter(pk=machine.pk).first()
    bunkers = {b.pk: b for b in Bunker.objects.filter(
        pk__in=[line.bunker_id for line in lines.values() if line.bunker_id])}
    slot_capacity = _slot_capacities(machine) if any(
        line.slot_code for line in lines.values()) else {}
    for line_id, quantity in wanted.items():
        line = lines[line_id]
        if line.bunker_id:
            _fill_bunker(bunkers[line.bunker_id], line, quantity, now)
        else:
            _fill_slot(machine, line, quantity, slot_capacity.get(line.slot_code), now)
        line.filled_quantity = quantity
        line.save(update_fields=["filled_quantity", "updated_at"])
    if bunkers:
        events.emit_machine_telemetry(machine)


def _fill_bunker(bunker: Bunker, line: VisitLine, quantity: int, now: datetime) -> None:
    # From the best estimate of what is in it: the vends since the last reading counted.
    level = (bunker.expected_level_grams if bunker.expected_level_grams is not None
             else bunker.current_level_grams)
    bunker.current_level_grams = rules.level_after_fill(
        level=level, previous_fill=line.filled_quantity, fill=quantity,
        capacity=bunker.capacity_grams)
    bunker.expected_level_grams = None
    bunker.save(update_fields=["current_level_grams", "expected_level_grams", "updated_at"])


def _slot_capacities(machine: Machine) -> dict[str, int | None]:
    planogram = planogram_at(machine)
    if planogram is None:
        return {}
    return dict(planogram.selections.values_list("code", "capacity"))


def _fill_slot(machine: Machine, line: VisitLine, quantity: int, capacity: int | None,
               now: datetime) -> None:
    stock, _created = SlotStock.objects.select_for_update().get_or_create(
        machine=machine, code=line.slot_code)
    stock.level = rules.level_after_fill(level=stock.level, previous_fill=line.filled_quantity,
                                         fill=quantity, capacity=capacity)
    stock.counted_at = now
    stock.save(update_fields=["level", "counted_at", "updated_at"])


def _cash(*, visit: Visit, route: Route, user, payload: dict, now: datetime) -> None:
    if visit.cash_collection_id is not None:
        raise VisitActionRejected({"kind": [_("Cash was recorded at this visit already.")]})
    try:
        # The route's operator may: the visit put them at the machine (may_act_on), with or
        # without a collection task on their board; the service closes the open one.
        collection = cash.record_collection(machine=visit.machine, amount=payload["amount"],
                                            actor=user, collected_at=now, authorize=False)
    except cash.CollectionRejected as exc:
        raise VisitActionRejected({"payload": exc.errors}) from None
    visit.cash_collection = collection
    visit.save(update_fields=["cash_collection", "updated_at"])


def _add_note(visit: Visit, text: str) -> None:
    note = f"{visit.note}\n{text}" if visit.note else text
    if len(note) > Visit._meta.get_field("note").max_length:
        raise VisitActionRejected({"payload": {"text": [_("The visit's notes are full.")]}})
    visit.note = note


def _note(*, visit: Visit, route: Route, user, payload: dict, now: datetime) -> None:
    _add_note(visit, payload["text"])
    visit.save(update_fields=["note", "updated_at"])


def _check_out(*, visit: Visit, route: Route, user, payload: dict, now: datetime) -> None:
    visit.status, visit.checked_out_at = VisitStatus.DONE, now
    visit.save(update_fields=["status", "checked_out_at", "updated_at"])
    filled = VisitLine.objects.filter(visit=visit, bunker__isnull=False,
                                      filled_quantity__gt=0).values("bunker_id")
    tasks = Task.objects.filter(machine_id=visit.machine_id, kind=TaskKind.REFILL,
                                status__in=OPEN_TASK_STATUSES, bunker_id__in=filled)
    # Through the task service: the task events and the managers' "done" notices fire.
    set_tasks_status(tasks=list(tasks.select_related("machine", "assignee")),
                     status=TaskStatus.DONE, actor=user)
    _finish_route_if_done(route)


def _skip(*, visit: Visit, route: Route, user, payload: dict, now: datetime) -> None:
    _add_note(visit, payload["reason"])
    visit.status = VisitStatus.SKIPPED
    visit.save(update_fields=["status", "note", "updated_at"])
    _finish_route_if_done(route)


def _finish_route_if_done(route: Route) -> None:
    statuses = list(Visit.objects.filter(route=route).values_list("status", flat=True))
    if rules.route_finished(statuses) and route.status != RouteStatus.DONE:
        route.status = RouteStatus.DONE
        route.save(update_fields=["status", "updated_at"])


_APPLY = {
    rules.CHECK_IN: _check_in, rules.FILL: _fill, rules.CASH: _cash, rules.NOTE: _note,
    rules.CHECK_OUT: _check_out, rules.SKIP: _skip,
}


# -- the visit's photo --------------------------------------------------------------------

#: Visit statuses a photo may be taken in: at the machine, or right after leaving it.
PHOTO_STATUSES = (VisitStatus.CHECKED_IN, VisitStatus.DONE)
#: Bytes read to recognise the image type.
_HEAD = 16


class PhotoTooLarge(Exception):
    """A photo over `settings.VISIT_PHOTO_MAX_BYTES`."""


def save_visit_photo(*, visit: Visit, user, upload) -> Visit:
    """Store `upload` (a Django UploadedFile) as the visit's photo under MEDIA_ROOT, in a
    file named by the server, replacing an earlier one (whose file is removed after the
    commit). Raises VisitActionForbidden (see `may_act_on`), PhotoTooLarge, and
    VisitActionRejected (`photo`) for a file that is not a JPEG, PNG or WebP image, or a
    visit not checked in nor done."""
    route = Route.objects.get(pk=visit.route_id)
    if not may_act_on(route=route, user=user):
        raise VisitActionForbidden
    if upload.size > settings.VISIT_PHOTO_MAX_BYTES:
        raise PhotoTooLarge
    head = upload.read(_HEAD)
    upload.seek(0)
    extension = rules.photo_extension(head)
    if extension is None:
        raise VisitActionRejected({"photo": [_("Send a JPEG, PNG or WebP image.")]})
    with transaction.atomic():
        route = Route.objects.select_for_update().get(pk=route.pk)
        visit = Visit.objects.select_related("machine").get(pk=visit.pk)
        if visit.status not in PHOTO_STATUSES:
            raise VisitActionRejected({"photo": [_("Check in at the machine first.")
                                                 if visit.status == VisitStatus.PLANNED
                                                 else _("This visit was skipped.")]})
        previous = visit.photo.name
        visit.photo.save(f"{uuid.uuid4().hex}.{extension}", upload, save=False)
        visit.save(update_fields=["photo", "updated_at"])
        if previous:
            storage, stored = visit.photo.storage, visit.photo.name
            transaction.on_commit(lambda: storage.delete(previous) if previous != stored
                                  else None)
    return visit
