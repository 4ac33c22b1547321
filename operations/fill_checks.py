"""Does the device confirm a recorded refill? After each telemetry batch commits, the first
reading of a bunker after a fill recorded at a visit is compared with what was poured in
(`rules_visits.fill_contradicted`); a contradiction ("filled 2 kg, the machine reports
200 g") notifies the organization's managers and the route's operator, once per visit line
(`Notification.dedup_key`), however many readings and processes see it.

Registered as a telemetry after-commit hook in operations' AppConfig.ready: telemetry does
not import the apps built on it. One query per batch (of any number of machines) when no
fill of its machines is recent; the readings are read only for a fill in its window.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from django.db import DatabaseError, IntegrityError, transaction

from machines.models import Machine, Priority
from notifications.models import Notification, NotificationType
from notifications.services import notify
from operations import rules_visits as rules
from operations.models import VisitLine
from telemetry.alerts import managers_of
from telemetry.models import TelemetryReading
from vendhub.people import display_name

logger = logging.getLogger(__name__)

#: Readings looked at after a fill to find the first that reports its bunker.
_READINGS_AFTER_FILL = 20


def dedup_key(line_id) -> str:
    return f"fill_contradicted:{line_id}"


def check_fill_contradictions(*, machines: Sequence[Machine], now: datetime,
                              **_ignored) -> list:
    """The after-ingest hook, for the machines that got new readings: one light query finds
    those with a fill recorded lately (usually none), then each of them is looked at. A
    database failure is logged, not raised (the readings are stored and acknowledged; the
    next batch looks again)."""
    try:
        filled = set(_recent_fills(now=now, machine_id__in=[m.pk for m in machines])
                     .values_list("visit__machine_id", flat=True))
        return [line for machine in machines if machine.pk in filled
                for line in contradicted_fills(machine=machine, now=now)]
    except DatabaseError:
        logger.exception("fill check failed for machines %s", [m.pk for m in machines])
        return []


def _recent_fills(*, now: datetime, **machine):
    """Fill lines recorded lately of the machine(s) (`machine_id=` or `machine_id__in=`)."""
    lookups = {f"visit__{key}": value for key, value in machine.items()}
    # A line's updated_at is when its fill was recorded: only the fill action writes a
    # line once its visit is under way (a re-plan keeps checked-in and done visits).
    return VisitLine.objects.filter(
        **lookups, bunker__isnull=False, filled_quantity__gte=rules.CONTRADICTION_MIN_FILL,
        updated_at__gte=now - rules.CONTRADICTION_WINDOW)


def contradicted_fills(*, machine: Machine, now: datetime) -> list[VisitLine]:
    """Notify the contradicted fills of `machine` not notified yet; returns their lines."""
    recent = list(_recent_fills(now=now, machine_id=machine.pk).values_list("pk", flat=True))
    if not recent:  # the usual batch: one light query, no rows
        return []
    lines = list(VisitLine.objects.filter(pk__in=recent)
                 .select_related("bunker__ingredient", "visit__route__operator"))
    notified = set(Notification.objects.filter(
        dedup_key__in=[dedup_key(line.pk) for line in lines]).values_list("dedup_key",
                                                                          flat=True))
    contradicted = []
    for line in lines:
        if dedup_key(line.pk) in notified:
            continue
        reported = _first_report_after(machine, line)
        if reported is None:
            continue
        level, reported_at = reported
        fill = rules.RecordedFill(line.updated_at, line.filled_quantity,
                                  line.bunker.capacity_grams)
        if rules.fill_contradicted(fill=fill, reported_level=level, reported_at=reported_at):
            if _notify(machine, line, level):
                contradicted.append(line)
    return contradicted


def _first_report_after(machine: Machine, line: VisitLine) -> tuple[int, datetime] | None:
    """The level and time of the first reading after the fill that reports its bunker."""
    bunker_id = str(line.bunker_id)
    readings = (TelemetryReading.objects.filter(machine_id=machine.pk,
                                                timestamp__gt=line.updated_at)
                .order_by("timestamp").values_list("timestamp", "bunker_levels")
                [:_READINGS_AFTER_FILL])
    for timestamp, levels in readings:
        for item in levels or []:
            if item.get("bunkerId") == bunker_id:
                return int(item["currentLevel"]), timestamp
    return None


def _notify(machine: Machine, line: VisitLine, level: int) -> bool:
    route = line.visit.route
    recipients = {user.pk: user for user in managers_of(machine.organization_id)}
    recipients.setdefault(route.operator_id, route.operator)
    params = {"machine": machine.name, "ingredient": line.bunker.ingredient.name,
              "filled": line.filled_quantity, "level": level,
              "operator": display_name(route.operator) or "—"}
    try:
        with transaction.atomic():
            notify(recipients=list(recipients.values()), organization_id=machine.organization_id,
                   machine=machine, title_key="fill_contradicted.title",
                   message_key="fill_contradicted.message", params=params,
                   type=NotificationType.WARNING, priority=Priority.HIGH,
                   dedup_key=dedup_key(line.pk))
    except IntegrityError:  # another process notified this fill first
        return False
    return True
