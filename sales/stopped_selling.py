"""The stopped-selling check: a machine online whose silence since its last sale is abnormal
for it (`sales.silence`) notifies its organization's managers, once per silence.

It runs with every sweep of the offline watchdog (`telemetry.watchdog`, registered in
`SalesConfig.ready`): `manage.py watch_machines` and the server's sweep under `run_demo`.
Only machines `online` are judged: an offline machine is already reported as offline, one
in error by its error, and one in maintenance is held by a person who knows.

Cheap on a large fleet:

- one query lists the candidates: machines online whose last sale is older than the rule's
  floor (id, last sale, time zone only);
- a machine's norm depends on nothing but its sales before its last sale, so it is computed
  once per silence (one bounded query of sale times, `MAX_HISTORY_SALES`) and kept by the
  process (`SalesNorms`) until the machine sells again; for at most `NORMS_SECONDS` per
  sweep (at least one norm), longest silences first, so a process starting on a large
  fleet spreads that work over its first sweeps instead of delaying the offline sweep;
- only a machine past its limit costs more: one query for the episodes already notified,
  then a transaction that locks the machine row, re-reads it and notifies.

An episode is the silence since `Machine.last_sale_at`, keyed by the machine and that
time: a new sale (a later last sale) ends it and starts the next, while a vend that arrives
late with an older time does not. Each manager gets one notification per episode
(`Notification.dedup_key`), however many sweeps and watchdog processes see it. There is no
"selling again" notification, as there is none for a machine back online: the next sale
shows on the dashboard live.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from django.db import IntegrityError, transaction
from django.utils import timezone

from machines.models import Machine, MachineStatus, Priority
from notifications.messages import keyed_duration
from notifications.models import Notification, NotificationType
from notifications.services import notify
from sales.models import Vend
from sales.silence import FLOOR, HISTORY, SalesNorm, is_abnormal_silence, sales_norm
from telemetry.alerts import managers_of

logger = logging.getLogger(__name__)

#: Sale times read per norm: 28 days of a machine selling 1,800 times a day.
MAX_HISTORY_SALES = 50_000
#: Seconds a sweep spends computing norms (one history query each, ~15-50 ms).
NORMS_SECONDS = 1.0
TITLE_KEY = "stopped_selling.title"


@dataclass(frozen=True)
class StoppedMachine:
    machine: Machine
    norm: SalesNorm
    silent_for: timedelta


@dataclass
class _Known:
    started_at: datetime
    norm: SalesNorm | None
    settled: bool = False  # notified (by this process or another): nothing more to do


class SalesNorms:
    """The norms this process computed, per machine, for the silence it is in now."""

    def __init__(self) -> None:
        self._known: dict[uuid.UUID, _Known] = {}

    def get(self, machine_id: uuid.UUID, started_at: datetime) -> _Known | None:
        known = self._known.get(machine_id)
        return known if known is not None and known.started_at == started_at else None

    def put(self, machine_id: uuid.UUID, known: _Known) -> None:
        self._known[machine_id] = known

    def keep_only(self, machine_ids: set[uuid.UUID]) -> None:
        """Forget machines that are no longer candidates (sold, offline, held)."""
        for machine_id in self._known.keys() - machine_ids:
            del self._known[machine_id]


#: The norms of this process's sweeps.
_norms = SalesNorms()


def episode_key(machine_id, started_at: datetime) -> str:
    """The dedup key of the silence of `machine_id` since its sale at `started_at`."""
    return f"stopped_selling:{machine_id}:{started_at.astimezone(UTC).isoformat()}"


def sale_times(*, machine_id, started_at: datetime) -> list[datetime]:
    """The machine's sale times in the rule's history before `started_at`, newest first,
    at most MAX_HISTORY_SALES (the (machine, timestamp) index serves it)."""
    return list(
        Vend.objects.filter(machine_id=machine_id, timestamp__gte=started_at - HISTORY,
                            timestamp__lte=started_at)
        .order_by("-timestamp").values_list("timestamp", flat=True)[:MAX_HISTORY_SALES]
    )


def _zone(name: str) -> tzinfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return timezone.get_default_timezone()


def check_stopped_selling(*, now: datetime | None = None, norms: SalesNorms | None = None,
                          norms_seconds: float = NORMS_SECONDS,
                          clock: Callable[[], float] = time.monotonic) -> list[StoppedMachine]:
    """One sweep: notify the managers of every machine online that has been silent for
    longer than its norm, once per silence. Returns the machines this call notified about
    (never one another watchdog process already did)."""
    now = now or timezone.now()
    norms = _norms if norms is None else norms
    candidates = list(
        Machine.objects.filter(status=MachineStatus.ONLINE, last_sale_at__lt=now - FLOOR)
        .order_by("last_sale_at")
        .values_list("pk", "last_sale_at", "organization__time_zone")
    )
    norms.keep_only({pk for pk, _started_at, _zone_name in candidates})
    deadline, computed = clock() + norms_seconds, 0
    due: list[tuple[uuid.UUID, _Known]] = []
    for pk, started_at, zone_name in candidates:
        known = norms.get(pk, started_at)
        if known is None:
            if computed and clock() > deadline:
                continue  # the next sweep's
            computed += 1
            known = _Known(started_at, sales_norm(
                sale_times(machine_id=pk, started_at=started_at), started_at=started_at,
                zone=_zone(zone_name)))
            norms.put(pk, known)
        if not known.settled and is_abnormal_silence(known.norm, started_at=started_at,
                                                     now=now):
            due.append((pk, known))
    if not due:
        return []
    notified = set(Notification.objects.filter(
        dedup_key__in=[episode_key(pk, known.started_at) for pk, known in due],
    ).values_list("dedup_key", flat=True))
    stopped = []
    for pk, known in due:
        if episode_key(pk, known.started_at) not in notified:
            result = _notify_managers(pk, known, now)
            if result is not None:
                stopped.append(result)
        known.settled = True
    return stopped


def _notify_managers(machine_id, known: _Known, now: datetime) -> StoppedMachine | None:
    """Notify the managers of the machine's organization, unless the machine changed since
    the sweep read it or another process notified this episode first."""
    key = episode_key(machine_id, known.started_at)
    with transaction.atomic():
        # The lock makes a second watchdog wait here, then find the notifications below.
        machine = (Machine.objects.select_for_update(of=("self",))
                   .filter(pk=machine_id, status=MachineStatus.ONLINE,
                           last_sale_at=known.started_at).first())
        if machine is None or Notification.objects.filter(dedup_key=key).exists():
            return None
        silent_for = now - known.started_at
        # Rounded up: a busy machine's usual 40 s wait reads "1 min", not "0 min".
        usual = timedelta(minutes=math.ceil(known.norm.usual_gap.total_seconds() / 60))
        try:
            with transaction.atomic():
                notify(recipients=managers_of(machine.organization_id),
                       organization_id=machine.organization_id, machine=machine,
                       type=NotificationType.WARNING, priority=Priority.HIGH,
                       title_key=TITLE_KEY, message_key="stopped_selling.message",
                       params={"machine": machine.name, "silent": keyed_duration(silent_for),
                               "usual": keyed_duration(usual)},
                       dedup_key=key)
        except IntegrityError:  # the constraint: another process got there first
            return None
    logger.info("stopped selling: %s (%s), silent for %s, usual gap %s, limit %s",
                machine.serial_number, machine.name, silent_for, known.norm.usual_gap,
                known.norm.limit)
    return StoppedMachine(machine, known.norm, silent_for)
