"""When a bunker or a slot runs out: pure rules, no Django, no I/O.

History arrives as `Usage`: what was consumed between two instants. A bunker's comes from
its reported levels (`usage_from_levels`: a fall between two readings is consumption, a
rise beyond the sensor's noise is a refill and says nothing of consumption), a slot's from
its vends counted per hour (`usage_from_counts`: an hour without a vend is an observed
zero, not a gap). Usage is spread over the UTC hours it covers (`hourly`), and from those
hour buckets `predict` learns a rate:

- **recent**: before there is `profile_days` of history, the mean rate of the last
  `recent_hours` (a whole day, so that night and rush hours weigh as they do in a day),
  extrapolated at a constant rate. How sure: the quantiles of the rates of every run of
  `spread_hours` consecutive hours in that window (the stretch ahead may be as busy as the
  busiest such run, or as quiet as the quietest).
- **profile**: with enough history, a rate per local hour of day, separately for weekdays
  and weekends (falling back to the hour over all days, then to the mean, where an hour
  was seldom observed), integrated forward hour by hour from the current level. How sure:
  the quantiles of consumption over what the profile expected, of whole days and of runs of
  `spread_hours` hours, the wider of the two (a busy day, or a busy morning, runs out
  earlier; a quiet one later).

A level of zero or less has run out already (`runs_out_at` is now); no consumption, or a
run-out beyond `horizon_hours`, has none (`None`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

HOUR = timedelta(hours=1)

RECENT = "recent"
PROFILE = "profile"
NONE = "none"


@dataclass(frozen=True)
class ForecastSettings:
    #: The window of the recent rate: a whole day of hours.
    recent_hours: int = 24
    #: History (first observation to now) after which the hour-of-day profile is used...
    profile_days: int = 7
    #: ...provided at least this share of that time was observed.
    profile_coverage: float = 0.5
    #: Observed hours before any forecast at all.
    min_hours: float = 2.0
    #: An hour of the profile observed less than this many times borrows from coarser ones.
    min_profile_observations: int = 2
    #: A run-out further away than this is "not soon": None.
    horizon_hours: int = 24 * 30
    #: The recent rate's spread is that of runs of this many hours in its window.
    spread_hours: int = 4
    #: The interval's quantiles ("how sure": 80 % of outcomes between them).
    low_quantile: float = 0.1
    high_quantile: float = 0.9


DEFAULT_SETTINGS = ForecastSettings()


@dataclass(frozen=True)
class Usage:
    """`amount` consumed in [start, end); slightly negative for sensor noise that rose."""

    start: datetime
    end: datetime
    amount: float


@dataclass(frozen=True)
class Prediction:
    method: str  # RECENT | PROFILE | NONE
    rate_per_hour: float
    runs_out_at: datetime | None
    earliest_at: datetime | None
    latest_at: datetime | None
    samples: int  # observed hour buckets the rate was learned from


def usage_from_levels(levels: Iterable[tuple[datetime, float]], *,
                      refill_tolerance: float) -> list[Usage]:
    """Consumption between consecutive `(time, level)` samples. A rise of more than
    `refill_tolerance` is a refill: that interval is left out (what was consumed in it is
    unknown). A smaller rise is kept as a negative amount, so noise cancels out instead of
    piling up as consumption."""
    ordered = sorted(levels)
    usages = []
    for (t0, l0), (t1, l1) in zip(ordered, ordered[1:], strict=False):
        if t1 <= t0 or l1 - l0 > refill_tolerance:
            continue
        usages.append(Usage(t0, t1, l0 - l1))
    return usages


def usage_from_counts(counts: Mapping[datetime, float], *, since: datetime,
                      until: datetime) -> list[Usage]:
    """Hourly usage of events counted per UTC hour (`counts[hour start]`, e.g. vends of one
    selection), every hour from `since` to `until` observed: no event is a zero."""
    usages = []
    hour = _floor_hour(since)
    while hour < until:
        start, end = max(hour, since), min(hour + HOUR, until)
        if end > start:
            usages.append(Usage(start, end, float(counts.get(hour, 0))))
        hour += HOUR
    return usages


def hourly(usages: Iterable[Usage]) -> dict[datetime, tuple[float, float]]:
    """`{UTC hour start: (amount, observed seconds)}`: each usage spread over the hours it
    covers in proportion to the time it spent in each."""
    # In epoch seconds: two weeks of readings are thousands of usages, and datetime
    # arithmetic per hour boundary cost more than the rest of a forecast.
    buckets: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for usage in usages:
        start, end = usage.start.timestamp(), usage.end.timestamp()
        total = end - start
        if total <= 0:
            continue
        hour = int(start // 3600)
        while hour * 3600 < end:
            seconds = min(hour * 3600 + 3600, end) - max(hour * 3600, start)
            if seconds > 0:
                bucket = buckets[hour]
                bucket[0] += usage.amount * seconds / total
                bucket[1] += seconds
            hour += 1
    return {datetime.fromtimestamp(hour * 3600, UTC): (amount, seconds)
            for hour, (amount, seconds) in buckets.items()}


def predict(usages: Iterable[Usage], *, level: float, now: datetime, zone: tzinfo,
            settings: ForecastSettings = DEFAULT_SETTINGS) -> Prediction:
    """The run-out of something holding `level` at `now`, learned from `usages`; hours of
    day and weekends are those of `zone` (the organization's time zone)."""
    buckets = {hour: value for hour, value in hourly(usages).items()
               if hour <= now and value[1] > 0}
    observed_hours = sum(seconds for _, seconds in buckets.values()) / 3600
    if observed_hours < settings.min_hours:
        return Prediction(NONE, 0.0, now if level <= 0 else None, None, None, len(buckets))
    span_hours = (now - min(buckets)).total_seconds() / 3600
    enough = (span_hours >= settings.profile_days * 24
              and observed_hours >= settings.profile_days * 24 * settings.profile_coverage)
    if enough:
        return _by_profile(buckets, level=level, now=now, zone=zone, settings=settings)
    return _by_recent_rate(buckets, level=level, now=now, settings=settings)


# -- the recent rate ---------------------------------------------------------------------------


def _by_recent_rate(buckets: dict[datetime, tuple[float, float]], *, level: float,
                    now: datetime, settings: ForecastSettings) -> Prediction:
    since = now - timedelta(hours=settings.recent_hours)
    recent_hours = [buckets[hour] for hour in sorted(buckets) if hour + HOUR > since]
    seconds = sum(s for _, s in recent_hours)
    if seconds <= 0:  # observed once, long ago: the whole history is the recent past
        recent_hours = [buckets[hour] for hour in sorted(buckets)]
        seconds = sum(s for _, s in recent_hours)
    recent = recent_hours
    rate = max(0.0, sum(a for a, _ in recent) / seconds * 3600)
    runs_out = _at_constant_rate(level, rate, now, settings)
    if level <= 0 or runs_out is None:
        return Prediction(RECENT, rate, runs_out, runs_out, runs_out, len(recent))
    rates = sorted(_block_rates(recent_hours, settings.spread_hours)) or [rate]
    high = quantile(rates, settings.high_quantile)
    low = quantile(rates, settings.low_quantile)
    earliest = _at_constant_rate(level, max(high, rate), now, settings)
    latest = _at_constant_rate(level, min(low, rate), now, settings)
    return Prediction(RECENT, rate, runs_out, earliest, latest, len(recent))


def _block_rates(buckets: list[tuple[float, float]], size: int) -> list[float]:
    """Rates (amount/h) of every run of `size` consecutive observed hours: how fast the
    same stretch of time went elsewhere in the window."""
    size = max(1, min(size, len(buckets)))
    rates = []
    for first in range(len(buckets) - size + 1):
        block = buckets[first:first + size]
        seconds = sum(s for _, s in block)
        if seconds >= size * 1800:  # mostly observed: a few seconds of an hour are noise
            rates.append(max(0.0, sum(a for a, _ in block) / seconds * 3600))
    return rates


def _at_constant_rate(level: float, rate: float, now: datetime,
                      settings: ForecastSettings) -> datetime | None:
    if level <= 0:
        return now
    if rate <= 0:
        return None
    hours = level / rate
    return now + timedelta(hours=hours) if hours <= settings.horizon_hours else None


# -- the hour-of-day profile ---------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """Rates per hour (amount/h) by (weekend, local hour), with coarser fallbacks."""

    by_day_type: Mapping[tuple[bool, int], float]
    by_hour: Mapping[int, float]
    mean: float
    zone: tzinfo
    #: Rates by UTC epoch hour, as asked: integrating reads each hour several times.
    _cache: dict[int, float] = field(default_factory=dict, compare=False, repr=False)

    def rate_at(self, at: datetime) -> float:
        epoch_hour = int(at.timestamp() // 3600)
        rate = self._cache.get(epoch_hour)
        if rate is None:
            # The UTC hour's start decides: the same rate for the whole hour, whoever asks.
            local = datetime.fromtimestamp(epoch_hour * 3600, self.zone)
            key = (local.weekday() >= 5, local.hour)
            rate = self.by_day_type.get(key)
            if rate is None:
                rate = self.by_hour.get(local.hour, self.mean)
            self._cache[epoch_hour] = rate
        return rate


def learn_profile(buckets: Mapping[datetime, tuple[float, float]], *, zone: tzinfo,
                  min_observations: int = DEFAULT_SETTINGS.min_profile_observations) -> Profile:
    by_key: dict[tuple[bool, int], list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    by_hour: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    for hour, (amount, seconds) in buckets.items():
        local = hour.astimezone(zone)
        for table, key in ((by_key, (local.weekday() >= 5, local.hour)), (by_hour, local.hour)):
            row = table[key]
            row[0] += amount
            row[1] += seconds
            row[2] += 1
    total_seconds = sum(s for _, s in buckets.values())
    mean = max(0.0, sum(a for a, _ in buckets.values()) / total_seconds * 3600)

    def rates(table: dict) -> dict:
        return {key: max(0.0, amount / seconds * 3600)
                for key, (amount, seconds, count) in table.items()
                if count >= min_observations and seconds > 0}

    return Profile(rates(by_key), rates(by_hour), mean, zone)


def integrate(rate_at: Callable[[datetime], float], *, level: float, now: datetime,
              horizon: timedelta) -> datetime | None:
    """When `level` is used up consuming `rate_at(t)` per hour (constant within each UTC
    hour); None if not within `horizon`."""
    if level <= 0:
        return now
    remaining, at, end = level, now, now + horizon
    while at < end:
        step_end = min(_floor_hour(at) + HOUR, end)
        rate = rate_at(at)
        hours = (step_end - at).total_seconds() / 3600
        if rate > 0 and rate * hours >= remaining:
            return at + timedelta(hours=remaining / rate)
        remaining -= max(0.0, rate) * hours
        at = step_end
    return None


def _by_profile(buckets: dict[datetime, tuple[float, float]], *, level: float, now: datetime,
                zone: tzinfo, settings: ForecastSettings) -> Prediction:
    profile = learn_profile(buckets, zone=zone, min_observations=settings.min_profile_observations)
    horizon = timedelta(hours=settings.horizon_hours)
    runs_out = integrate(profile.rate_at, level=level, now=now, horizon=horizon)
    # The rate of the day ahead: what "per hour" means for a rate that changes by the hour.
    day_ahead = sum(profile.rate_at(now + HOUR * i) for i in range(24)) / 24
    if level <= 0 or runs_out is None:
        return Prediction(PROFILE, day_ahead, runs_out, runs_out, runs_out, len(buckets))
    # Whole days say how a busy or quiet day moves a run-out a day or more away; runs of a
    # few hours how a busy or quiet morning moves one due this afternoon. The wider of the
    # two holds for both (neither depends on the level, so a fuller bunker never runs out
    # earlier at either end).
    hours = sorted(buckets)
    expected = [profile.rate_at(hour) * buckets[hour][1] / 3600 for hour in hours]
    days = sorted(_day_ratios(hours, expected, buckets, zone))
    blocks = sorted(_block_ratios(hours, expected, buckets, settings.spread_hours))
    lows = [quantile(r, settings.low_quantile) for r in (days, blocks) if r]
    highs = [quantile(r, settings.high_quantile) for r in (days, blocks) if r]
    low, high = min(lows, default=1.0), max(highs, default=1.0)
    earliest = integrate(lambda t: profile.rate_at(t) * max(high, 1.0), level=level, now=now,
                         horizon=horizon)
    latest = integrate(lambda t: profile.rate_at(t) * min(low, 1.0), level=level, now=now,
                       horizon=horizon)
    return Prediction(PROFILE, day_ahead, runs_out, earliest, latest, len(buckets))


def _block_ratios(hours: list[datetime], expected: list[float],
                  buckets: Mapping[datetime, tuple[float, float]], size: int) -> list[float]:
    """Consumption over what the profile expected (`expected[i]` of `hours[i]`), of every
    run of `size` consecutive, mostly observed hours of the last week."""
    first_kept = max(0, len(hours) - 24 * 7)
    ratios = []
    for first in range(first_kept, len(hours) - size + 1):
        last = first + size - 1
        if hours[last] - hours[first] != HOUR * (size - 1):
            continue  # a gap in the history: not consecutive
        run = range(first, last + 1)
        seconds = sum(buckets[hours[i]][1] for i in run)
        wanted = sum(expected[i] for i in run)
        if seconds >= size * 1800 and wanted > 0:
            ratios.append(max(0.0, sum(buckets[hours[i]][0] for i in run) / wanted))
    return ratios


def _day_ratios(hours: list[datetime], expected: list[float],
                buckets: Mapping[datetime, tuple[float, float]], zone: tzinfo) -> list[float]:
    """Each well-observed local day's consumption over what the profile expected of the
    same hours (days observed at least 20 of 24 hours)."""
    days: dict[object, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for hour, wanted in zip(hours, expected, strict=True):
        amount, seconds = buckets[hour]
        row = days[hour.astimezone(zone).date()]
        row[0] += amount
        row[1] += wanted
        row[2] += seconds
    return [max(0.0, actual / wanted) for actual, wanted, seconds in days.values()
            if seconds >= 20 * 3600 and wanted > 0]


# -- helpers ------------------------------------------------------------------------------


def quantile(ordered: Sequence[float], q: float) -> float:
    """The `q` quantile of sorted values, linear between neighbours."""
    if not ordered:
        raise ValueError("quantile of nothing")
    position = (len(ordered) - 1) * min(1.0, max(0.0, q))
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def _floor_hour(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    return at.replace(minute=0, second=0, microsecond=0)


def earliest_of(times: Iterable[datetime | None]) -> datetime | None:
    """The soonest of run-out times (None: nothing runs out)."""
    known = [at for at in times if at is not None]
    return min(known) if known else None
