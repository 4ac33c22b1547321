"""The offline watchdog: machines silent for too long are marked offline, once.

Safe with several watchdogs at once (two `watch_machines` processes, or one next to the
server's in-process sweep): each flip is a conditional UPDATE that only matches while the
machine is still in the status and at the last-seen time the sweep read, so exactly one
process changes the row, and only that process notifies and broadcasts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import DateTimeField, DurationField, ExpressionWrapper, F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from machines.models import HELD_STATUSES, Machine, MachineStatus
from realtime import events
from telemetry import alerts
from telemetry.conf import telemetry_settings
from telemetry.rules import is_silent

logger = logging.getLogger(__name__)

#: Statuses the watchdog leaves alone: already offline, or held by a person (maintenance),
#: which only a person ends.
EXEMPT = (MachineStatus.OFFLINE, *HELD_STATUSES)

#: Checks of other apps that run after every sweep, called as `check(now=...)` (sales'
#: "stopped selling", registered in its AppConfig.ready): the watchdog's loop is the one
#: periodic loop of the fleet, and telemetry does not import the apps built on it.
SWEEP_CHECKS: list[Callable[..., object]] = []


def register_sweep_check(check: Callable[..., object]) -> None:
    if check not in SWEEP_CHECKS:
        SWEEP_CHECKS.append(check)


def _run_sweep_checks(now: datetime) -> None:
    for check in SWEEP_CHECKS:
        try:
            check(now=now)
        except Exception:  # one failing check must not stop the offline sweeps
            logger.exception("watchdog: %s failed", getattr(check, "__qualname__", check))


def _candidates(now: datetime, factor: float) -> Iterator[Machine]:
    """Machines that may be silent. A machine never heard from counts from its creation."""
    machines = Machine.objects.exclude(status__in=EXEMPT).order_by("pk")
    if connection.vendor == "postgresql":
        silence = ExpressionWrapper(
            F("telemetry_interval_seconds") * Value(timedelta(seconds=factor)),
            output_field=DurationField(),
        )
        machines = machines.alias(deadline=ExpressionWrapper(
            Coalesce("last_seen_at", "created_at") + silence, output_field=DateTimeField()
        )).filter(deadline__lt=now)
    # Elsewhere (SQLite cannot multiply a duration), and as the one rule everywhere:
    for machine in machines.iterator(chunk_size=500):
        seen = machine.last_seen_at or machine.created_at
        if is_silent(seen, now, interval_seconds=machine.telemetry_interval_seconds,
                     factor=factor):
            yield machine


def _flip_offline(machine: Machine, now: datetime) -> bool:
    """Mark `machine` offline unless it changed since it was read; True if this call did."""
    with transaction.atomic():
        changed = Machine.objects.filter(
            pk=machine.pk, status=machine.status, last_seen_at=machine.last_seen_at
        ).update(status=MachineStatus.OFFLINE, updated_at=now)
        if not changed:
            return False
        machine.status = MachineStatus.OFFLINE
        events.emit_machine_status(machine, at=now)
        alerts.machine_went_offline(machine=machine, last_seen_at=machine.last_seen_at, now=now,
                                    managers=alerts.managers_of(machine.organization_id))
    return True


def check_silent_machines(*, now: datetime | None = None,
                          factor: float | None = None) -> list[Machine]:
    """One sweep: mark offline every machine silent for longer than its telemetry interval
    times `factor` (default `WATCHDOG_SILENCE_FACTOR`), emit `machine:status` and notify the
    organization's managers. Returns the machines this call flipped (never one another
    watchdog flipped). Machines in maintenance are left alone. Then runs `SWEEP_CHECKS`.
    """
    now = now or timezone.now()
    factor = telemetry_settings().silence_factor if factor is None else factor
    flipped = [machine for machine in list(_candidates(now, factor))
               if _flip_offline(machine, now)]
    _run_sweep_checks(now)
    return flipped


def silent_for(machine: Machine, now: datetime) -> timedelta | None:
    return None if machine.last_seen_at is None else now - machine.last_seen_at
