"""Does the device confirm a recorded refill? After each telemetry batch commits, the first
reading of a bunker after a fill recorded at a visit is compared with what was poured in
(`rules_visits.fill_contradicted`); a contradiction ("filled 2 kg, the machine reports
200 g") notifies the organization's managers and the route's operator, once per visit line
(`Notification.dedup_key`), however many readings and processes see it.

Registered as a telemetry after-commit hook in operations' AppConfig.ready: telemetry does
not import the apps built on it. One query per batch when no fill of the machine is
recent; the readings are read only for a fill in its window.
"""

from __future__ import annotations

import logging
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


def check_fill_contradictions(*, machine: Machine, now: datetime, **_ignored) -> list:
    """The after-ingest hook: a database failure is logged, not raised (the readings are
    stored and acknowledged; the next batch looks again)."""
    try:
        return contradicted_fills(machine=machine, now=now)
    except DatabaseError:
        logger.exception("fill check failed for machine %s", machine.pk)
        return []


def contradicted_fills(*, machine: Machine, now: datetime) -> list[VisitLine]:
    """Notify the contradicted fills of `machine` not notified yet; returns their lines."""
    # A line's updated_at is when its fill was recorded: only the fill action writes a
    # line once its visit is under way (a re-plan keeps checked-in and done visits).
    recent = list(VisitLine.objects.filter(
        visit__machine_id=machine.pk, bunker__isnull=False,
        filled_quantity__gte=rules.CONTRADICTION_MIN_FILL,
        updated_at__gte=now - rules.CONTRADICTION_WINDOW).values_list("pk", flat=True))
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
