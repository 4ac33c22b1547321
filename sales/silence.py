"""Pure rule: has a machine stopped selling?  No Django, no I/O.

A machine that reports "online" may still sell nothing (a jammed coin mech, an empty
spiral at the front, a card reader that declines everything): telemetry does not see it,
its sales do.  What counts as "too long without a sale" differs per machine and per hour
(a station kiosk at 8:00, an office machine at 22:00), so the limit is learned from the
machine's own history, never a fixed number.

The statistic (`sales_norm`):

- **History**: the machine's sales in the `HISTORY` (28 days) before its last sale, the
  moment the current silence began.  Anchoring the window at the last sale, not at "now",
  makes the verdict a function of the silence alone: it never flips back to "normal" as
  the silence grows (the property tests check this).
- **Gaps by the hour they started**: the time from each sale to the next, bucketed by the
  local hour of day (the organization's time zone) at which the gap *started*, and the
  current silence is compared with the gaps that started at the same hour, give or take
  `NEIGHBOUR_HOURS`.  A machine that usually sells nothing from 20:00 to 8:00 has 12 h gaps
  starting at 20:00, so its evening silence is normal, while a 3 h silence from noon is not.
  Weekday and weekend gaps are kept apart once the day type of the silence has
  `MIN_GAPS` of its own; before that, both are pooled (weekend gaps are the longer ones of an
  office machine: pooling only makes the limit more lenient).
- **Usual gap**: the `QUANTILE` (p99, nearest rank) of those gaps: how long the machine
  waited for a sale at that hour in all but its slowest 1 % of waits.  Below 100 gaps the
  nearest-rank p99 is the longest gap seen: the least history, the most lenient.
- **Limit**: `FACTOR` (2) times the usual gap, never under `FLOOR` (30 min).  For sales
  arriving at random (Poisson), a normal wait longer than twice the p99 happens once in
  10,000 gaps; the floor keeps a busy machine (a sale every 2 minutes, a usual gap of
  9 minutes) from being flagged after a lull of 20 minutes.
- **Too little history, no judgement**: fewer than `MIN_GAPS` gaps in the bucket, or sales
  on fewer than `MIN_DAYS` distinct local days of the history (an hour-of-day pattern needs
  several days), and `sales_norm` answers None: a new machine is never flagged.

Known limit: a silence is judged by the gaps that *started* at its hour, so one that starts
before closing time waits out the longest such gap: an office machine's Friday-evening gap
(to Monday morning) is a weekday gap, and lifts the limit of every weekday evening to twice
that. Such a jam is found late, never falsely; measuring gaps in expected sales (time
rescaled by the machine's hourly sales rate) would find it the next morning.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

#: How far back before the silence the machine's sales are read.
HISTORY = timedelta(days=28)
#: Gaps that started within this many hours of the silence's start hour count (either side).
NEIGHBOUR_HOURS = 1
#: The share of the bucket's gaps the "usual gap" covers.
QUANTILE = 0.99
#: A silence is abnormal beyond FACTOR x the usual gap...
FACTOR = 2.0
#: ...and never before FLOOR.
FLOOR = timedelta(minutes=30)
#: Gaps a bucket needs before it is judged.
MIN_GAPS = 30
#: Distinct local days with a sale the history needs before anything is judged.
MIN_DAYS = 7
#: Saturday and Sunday (datetime.weekday()).
WEEKEND = frozenset({5, 6})


@dataclass(frozen=True, slots=True)
class SalesNorm:
    """How long this machine usually goes without a sale when a silence starts at this
    hour, and the limit beyond which the silence is abnormal."""

    usual_gap: timedelta
    limit: timedelta
    gaps: int  # the gaps the usual gap was taken from
    day_type_only: bool  # True: weekday or weekend gaps only; False: both pooled


def _hour_distance(a: int, b: int) -> int:
    """Hours between two hours of day, around midnight (23 and 0 are 1 apart)."""
    distance = abs(a - b) % 24
    return min(distance, 24 - distance)


def nearest_rank(values: list[timedelta], quantile: float) -> timedelta:
    """The nearest-rank quantile of sorted, non-empty `values`: a value that occurred,
    never an interpolation between two."""
    index = max(0, math.ceil(quantile * len(values)) - 1)
    return values[index]


def sales_norm(sales: Iterable[datetime], *, started_at: datetime, zone: tzinfo,
               history: timedelta = HISTORY, quantile: float = QUANTILE,
               factor: float = FACTOR, floor: timedelta = FLOOR, min_gaps: int = MIN_GAPS,
               min_days: int = MIN_DAYS) -> SalesNorm | None:
    """The norm of a silence that began with the sale at `started_at`, from the machine's
    sale times `sales` (aware datetimes, any order; those outside the `history` before
    `started_at` are ignored, `started_at` itself may be among them).  None when there is
    too little history to judge (see the module docstring for the statistic)."""
    since = started_at - history
    times = sorted({t for t in sales if since <= t <= started_at} | {started_at})
    local = [t.astimezone(zone) for t in times]
    if len({t.date() for t in local}) < min_days:
        return None
    start = started_at.astimezone(zone)
    weekend = start.weekday() in WEEKEND
    same_type: list[timedelta] = []
    pooled: list[timedelta] = []
    # Each sale and the next: the gap, and the local time it started at.
    for begin, local_begin, end in zip(times, local, times[1:], strict=False):
        if _hour_distance(local_begin.hour, start.hour) > NEIGHBOUR_HOURS:
            continue
        gap = end - begin
        pooled.append(gap)
        if (local_begin.weekday() in WEEKEND) == weekend:
            same_type.append(gap)
    day_type_only = len(same_type) >= min_gaps
    gaps = same_type if day_type_only else pooled
    if len(gaps) < min_gaps:
        return None
    gaps.sort()
    usual = nearest_rank(gaps, quantile)
    return SalesNorm(usual_gap=usual, limit=max(floor, usual * factor), gaps=len(gaps),
                     day_type_only=day_type_only)


def is_abnormal_silence(norm: SalesNorm | None, *, started_at: datetime,
                        now: datetime) -> bool:
    """Whether a silence since `started_at` has lasted beyond its norm at `now`.  No norm
    (too little history), no judgement: False."""
    return norm is not None and now - started_at > norm.limit
