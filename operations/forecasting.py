"""Writes of forecasts: `refresh_forecasts(machine, now=...)` learns each bunker's and slot's
consumption from its own recent history (operations.forecast decides) and upserts the
machine's `Forecast` rows, then publishes `machine:forecast` (and the fleet's
`machine:runout`) when something changed.

Cost per call, whatever the fleet size: a fixed number of queries (the machine row locked,
its bunkers, its readings sampled one per `SAMPLE_MINUTES`, its slot stocks, its vends
counted per selection and hour, the selections' names, its forecasts, one bulk update and
one bulk insert), over at most `HISTORY_DAYS` of one machine's history: at most
HISTORY_DAYS × 24 × 60 / SAMPLE_MINUTES readings and one row per (selection, hour).

Called after a telemetry batch and a vend batch commit (`refresh_after_ingest_of`, at most
every `OPERATIONS["FORECAST_REFRESH_SECONDS"]` per machine unless something was refilled,
so that a backlog uploaded in many batches does not recompute the same history each time),
by the watchdog's sweep for machines whose forecasts grew stale (`refresh_stale_forecasts`),
and by `manage.py refresh_forecasts`.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, F, Max, OuterRef, Q
from django.db.models.functions import Extract, Floor, TruncHour
from django.utils import timezone

from machines.models import Bunker, Machine
from operations import events
from operations.forecast import (
    ForecastSettings,
    Prediction,
    earliest_of,
    predict,
    usage_from_counts,
    usage_from_levels,
)
from operations.models import Forecast, SlotStock
from operations.selectors_forecasts import slot_names
from sales.models import Vend
from telemetry.models import TelemetryReading

#: How far back the rates are learned from: two weeks, so that the profile has seen two
#: of each weekday and two weekends.
HISTORY_DAYS = 14
#: Readings are sampled one per this many minutes: a level changes little in a minute, and
#: two weeks of one-minute readings would be 20,160 rows per refresh.
SAMPLE_MINUTES = 15
#: A change smaller than this in a run-out time is not news for the live pages.
NEWS_SECONDS = 60

FORECAST_FIELDS = ["level", "rate_per_hour", "runs_out_at", "earliest_at", "latest_at",
                   "method", "samples", "computed_at", "updated_at"]


def _option(name: str, default: float) -> float:
    """`OPERATIONS[name]` (the app's settings, as the planner reads them), or `default`."""
    return float((getattr(settings, "OPERATIONS", {}) or {}).get(name, default))


def refresh_interval() -> timedelta:
    """`OPERATIONS["FORECAST_REFRESH_SECONDS"]` (default 300): the least time between two
    refreshes of one machine caused by its batches, unless something of it was refilled. A
    refresh of a machine with two weeks of history, three bunkers and twenty slots costs
    ~140 ms of CPU: after every one-minute batch of a 300-machine fleet that would be most
    of a core."""
    return timedelta(seconds=_option("FORECAST_REFRESH_SECONDS", 300))


def stale_after() -> timedelta:
    """`OPERATIONS["FORECAST_STALE_MINUTES"]` (default 15): the watchdog's sweep refreshes
    forecasts this old."""
    return timedelta(minutes=_option("FORECAST_STALE_MINUTES", 15))


def _zone(name: str):
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return timezone.get_default_timezone()


def refresh_forecasts(machine: Machine, *, now: datetime | None = None,
                      forecast_settings: ForecastSettings | None = None) -> bool:
    """Recompute and store the forecasts of `machine`'s bunkers and slots as of `now`.
    Returns whether anything changed that the live pages should hear of (then
    `machine:forecast` goes out after the commit)."""
    now = now or timezone.now()
    options = forecast_settings or ForecastSettings()
    with transaction.atomic():
        # Refreshes of one machine (a batch's, the watchdog's) take turns.
        locked = (Machine.objects.select_for_update(of=("self",)).select_related("organization")
                  .filter(pk=machine.pk).first())
        if locked is None:
            return False
        zone = _zone(locked.organization.time_zone)
        since = now - timedelta(days=HISTORY_DAYS)
        bunkers = list(Bunker.objects.filter(machine=locked).select_related("ingredient")
                       .order_by("ingredient__name", "created_at"))
        stocks = list(SlotStock.objects.filter(machine=locked).order_by("code"))
        predictions: dict[object, tuple[int, Prediction]] = {}
        if bunkers:
            history = _bunker_levels(locked.pk, bunkers, since=since, until=now)
            for bunker in bunkers:
                level = _bunker_level(bunker)
                tolerance = max(20.0, bunker.capacity_grams * 0.02)
                usage = usage_from_levels(history[str(bunker.pk)], refill_tolerance=tolerance)
                predictions[bunker.pk] = (level, predict(usage, level=level, now=now, zone=zone,
                                                         settings=options))
        if stocks:
            counts = _vends_per_hour(locked.pk, [s.code for s in stocks], since=since,
                                     until=now)
            for stock in stocks:
                start = max(since, stock.created_at)
                usage = usage_from_counts(counts.get(stock.code, {}), since=start, until=now)
                predictions[stock.code] = (stock.level, predict(
                    usage, level=stock.level, now=now, zone=zone, settings=options))
        changed, rows, earlier = _store(locked, predictions, now)
    if changed:
        by_id = {bunker.pk: bunker for bunker in bunkers}
        for row in rows:  # the bunkers as loaded, with their ingredients: no query per row
            if row.bunker_id:
                row.bunker = by_id[row.bunker_id]
        events.emit_machine_forecast(locked, rows, computed_at=now,
                                     slot_names=slot_names(locked.pk) if stocks else {})
        earliest = earliest_of(row.runs_out_at for row in rows)
        if earlier is _UNKNOWN or _moved(earlier, earliest):
            events.emit_machine_runout(locked, earliest)
    return changed


_UNKNOWN = object()


def _bunker_level(bunker: Bunker) -> int:
    """The bunker's level now: the vends' estimate since its last reading, if any."""
    if bunker.expected_level_grams is not None:
        return bunker.expected_level_grams
    return bunker.current_level_grams


def _bunker_levels(machine_id, bunkers: list[Bunker], *, since: datetime,
                   until: datetime) -> dict[str, list[tuple[datetime, float]]]:
    """`{bunker id: [(time, level), ...]}`: the machine's readings from `since`, one per
    `SAMPLE_MINUTES`, then each bunker's level now (its latest reading, and the vends'
    estimate after it)."""
    readings = (TelemetryReading.objects.filter(machine_id=machine_id, timestamp__gte=since,
                                                timestamp__lte=until).order_by())
    step = SAMPLE_MINUTES * 60
    if connection.vendor == "postgresql":
        # DISTINCT ON the sample slot: the first reading of each slot, sampled in SQL.
        sampled = (readings.annotate(slot=Floor(Extract("timestamp", "epoch", tzinfo=UTC) / step))
                   .order_by("slot", "timestamp").distinct("slot")
                   .values_list("slot", "timestamp", "bunker_levels"))
        rows = [(at, levels) for _slot, at, levels in sampled]
    else:  # the embedded database of development: fine to sample in Python
        rows, seen = [], set()
        for at, levels in readings.order_by("timestamp").values_list("timestamp",
                                                                      "bunker_levels"):
            slot = int(at.timestamp() // step)
            if slot not in seen:
                seen.add(slot)
                rows.append((at, levels))
    history: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    for at, levels in rows:
        for entry in levels or ():
            key, level = entry.get("bunkerId"), entry.get("currentLevel")
            if key is not None and isinstance(level, int | float):
                history[str(key)].append((at, float(level)))
    for bunker in bunkers:
        points = history[str(bunker.pk)]
        last = max((at for at, _ in points), default=None)
        if last is not None and last < bunker.updated_at:
            points.append((bunker.updated_at, float(_bunker_level(bunker))))
    return history


def _vends_per_hour(machine_id, codes: list[str], *, since: datetime,
                    until: datetime) -> dict[str, dict[datetime, int]]:
    """`{selection code: {UTC hour: vends}}` of the machine since `since`: one grouped query
    on the vends' (machine, timestamp) index."""
    vends = Vend.objects.filter(machine_id=machine_id, selection__in=codes,
                                timestamp__gte=since, timestamp__lte=until).order_by()
    counts: dict[str, dict[datetime, int]] = defaultdict(dict)
    if connection.vendor == "postgresql":
        # Epoch hours, not truncated datetimes: thousands of rows made aware one by one
        # cost more than the query.
        rows = (vends.annotate(hour=Floor(Extract("timestamp", "epoch", tzinfo=UTC) / 3600))
                .values_list("selection", "hour").annotate(n=Count("id")))
        for code, hour, n in rows:
            counts[code][datetime.fromtimestamp(int(hour) * 3600, UTC)] = n
        return counts
    rows = (vends.annotate(hour=TruncHour("timestamp", tzinfo=UTC))
            .values_list("selection", "hour").annotate(n=Count("id")))
    for code, hour, n in rows:
        counts[code][hour.astimezone(UTC)] = n
    return counts


def _store(machine: Machine, predictions: dict[object, tuple[int, Prediction]],
           now: datetime) -> tuple[bool, list[Forecast], object]:
    """Upsert the rows (bulk), drop those of slots that no longer exist. Returns whether
    something changed, the rows, and the machine's earliest run-out before (`_UNKNOWN`
    when it had no forecasts)."""
    existing = {row.bunker_id or row.slot_code: row
                for row in Forecast.objects.filter(machine=machine)}
    earlier = earliest_of(row.runs_out_at for row in existing.values()) if existing else _UNKNOWN
    changed = False
    created, updated = [], []
    for key, (level, prediction) in predictions.items():
        row = existing.pop(key, None)
        if row is None:
            row = Forecast(machine=machine, computed_at=now, level=max(0, level))
            if isinstance(key, str):
                row.slot_code = key
            else:
                row.bunker_id = key
            created.append(row)
            changed = True
        else:
            changed = changed or _news(row, level, prediction)
            updated.append(row)
        row.level = max(0, int(level))
        row.rate_per_hour = round(prediction.rate_per_hour, 3)
        row.runs_out_at, row.earliest_at = prediction.runs_out_at, prediction.earliest_at
        row.latest_at, row.method = prediction.latest_at, prediction.method
        row.samples, row.computed_at, row.updated_at = prediction.samples, now, now
    if updated:
        Forecast.objects.bulk_update(updated, FORECAST_FIELDS)
    if created:
        Forecast.objects.bulk_create(created)
    gone = [row.pk for row in existing.values()]
    if gone:  # slots that left the planogram
        Forecast.objects.filter(pk__in=gone).delete()
        changed = True
    rows = sorted(created + updated, key=lambda r: (r.bunker_id is None, r.slot_code))
    return changed, rows, earlier


def _news(row: Forecast, level: int, prediction: Prediction) -> bool:
    return (row.level != max(0, int(level)) or row.method != prediction.method
            or any(_moved(old, new) for old, new in (
                (row.runs_out_at, prediction.runs_out_at),
                (row.earliest_at, prediction.earliest_at),
                (row.latest_at, prediction.latest_at))))


def _moved(old: datetime | None, new: datetime | None) -> bool:
    if old is None or new is None:
        return old is not new
    return abs((new - old).total_seconds()) >= NEWS_SECONDS


# -- when to refresh ------------------------------------------------------------------------


def refresh_after_ingest_of(*, machines: Sequence[Machine],
                            now: datetime | None = None) -> list[Machine]:
    """After committed readings or vends of `machines` (a batch of one machine, or of many
    over MQTT): refresh each unless its forecasts were computed less than
    `refresh_interval()` ago and nothing of it was refilled since (a refill makes every
    run-out of it wrong at once). Decides for all of them in at most three queries;
    returns the machines it refreshed."""
    now = now or timezone.now()
    ids = [machine.pk for machine in machines]
    last = dict(Forecast.objects.filter(machine_id__in=ids).order_by().values("machine_id")
                .annotate(last=Max("computed_at")).values_list("machine_id", "last"))
    unknown = [pk for pk in ids if pk not in last]
    # Nothing to forecast (no bunker, no slot): without this a machine that never gets a
    # forecast row would recompute on every batch (~9 queries each, measured on the MQTT
    # ingest bench's bunkerless machines).
    stocked = set(machines_with_stock().filter(pk__in=unknown).values_list("pk", flat=True)
                  ) if unknown else set()
    recent = {pk for pk, at in last.items() if at <= now and now - at < refresh_interval()}
    refilled = set(refilled_since_forecast(recent).values_list("machine_id", flat=True)
                   ) if recent else set()
    due = [machine for machine in machines
           if (machine.pk in last or machine.pk in stocked)
           and (machine.pk not in recent or machine.pk in refilled)]
    for machine in due:
        refresh_forecasts(machine, now=now)
    return due


#: A bunker this much above its forecast's level was refilled (not sensor noise).
REFILL_GRAMS = 50


def refilled_since_forecast(machine_ids: Iterable):
    """The forecasts of these machines whose bunker or slot holds more now than when they
    were computed (a reading after a refill, a visit's fill): one query."""
    slot_fuller = SlotStock.objects.filter(machine_id=OuterRef("machine_id"),
                                           code=OuterRef("slot_code"), level__gt=OuterRef("level"))
    return Forecast.objects.filter(machine_id__in=list(machine_ids)).filter(
        Q(bunker__current_level_grams__gt=F("level") + REFILL_GRAMS) | Exists(slot_fuller))


def machines_with_stock():
    """Machines that have something to forecast: a bunker or a slot."""
    return Machine.objects.filter(Exists(Bunker.objects.filter(machine=OuterRef("pk")))
                                  | Exists(SlotStock.objects.filter(machine=OuterRef("pk"))))


def refresh_stale_forecasts(*, now: datetime | None = None, limit: int = 50) -> int:
    """The watchdog's check: refresh up to `limit` machines whose forecasts are older than
    `stale_after()` (or missing), the stalest first. Returns how many it refreshed."""
    now = now or timezone.now()
    stale = (machines_with_stock().annotate(computed=Max("forecasts__computed_at"))
             .filter(Q(computed__isnull=True) | Q(computed__lt=now - stale_after()))
             .order_by(F("computed").asc(nulls_first=True), "pk")[:limit])
    refreshed = 0
    for machine in stale:
        refresh_forecasts(machine, now=now)
        refreshed += 1
    return refreshed
