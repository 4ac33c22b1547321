"""The rules that judge telemetry. Pure: plain values in, decisions out; no ORM, no I/O.

`evaluate_batch(state, readings, limits)` walks a machine's new readings in time order from
its previous state and returns the next state plus what happened on the way: a status
change, bunkers crossing under their threshold, environment episodes starting, errors
opening and resolving. `telemetry.services` loads the state, calls it and applies the
outcome (rows, notifications, tasks, broadcasts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

CRITICAL = "critical"
TEMPERATURE = "temperature"
HUMIDITY = "humidity"


# -- what a device reports ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportedError:
    code: str
    message: str
    severity: str  # "warning" | "error" | "critical"
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Reading:
    """One validated reading (telemetry.serializers builds them from the wire shape)."""

    timestamp: datetime
    status: str
    temperature: float | None = None
    humidity: float | None = None
    uptime: int = 0
    last_sale: datetime | None = None
    #: bunker id (str) -> level in grams, for the bunkers the reading reports.
    bunker_levels: Mapping[str, int] = field(default_factory=dict)
    errors: tuple[ReportedError, ...] = ()


# -- bunkers -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BunkerSpec:
    capacity: int  # grams
    threshold_percent: int


def is_low(level: int, bunker: BunkerSpec) -> bool:
    """Under the threshold (the same rule as `machines.models.Bunker.is_low_at`)."""
    return level * 100 < bunker.capacity * bunker.threshold_percent


def bunker_crossed_low(previous_level: int, new_level: int, bunker: BunkerSpec) -> bool:
    """True when the level goes from at-or-above the threshold to under it.

    A bunker that stays low does not cross again; refilling it above the threshold re-arms.
    """
    return not is_low(previous_level, bunker) and is_low(new_level, bunker)


# -- environment -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EnvironmentLimits:
    temperature: float  # °C: above is too hot
    humidity: float  # %: above is too humid
    temperature_hysteresis: float = 1.0
    humidity_hysteresis: float = 2.0


def episode_step(active: bool, value: float | None, limit: float,
                 hysteresis: float = 0.0) -> tuple[bool, bool]:
    """One reading of an episode detector: `(active afterwards, episode started now)`.

    An episode starts when `value` goes above `limit` and ends when it is back at or under
    `limit - hysteresis`; a missing value changes nothing.
    """
    if value is None:
        return active, False
    if active:
        return value > limit - hysteresis, False
    if value > limit:
        return True, True
    return False, False


# -- machine state and the batch ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenError:
    code: str
    severity: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class MachineState:
    status: str
    last_seen_at: datetime | None
    bunker_levels: Mapping[str, int]
    open_errors: Mapping[str, OpenError]  # by code
    temperature_alert: bool = False
    humidity_alert: bool = False
    #: A person set the status (maintenance): readings are judged but never override it.
    status_held: bool = False


@dataclass(frozen=True, slots=True)
class StatusChange:
    previous: str
    status: str
    at: datetime


@dataclass(frozen=True, slots=True)
class LowBunker:
    bunker_id: str
    level: int
    at: datetime


@dataclass(frozen=True, slots=True)
class EnvironmentAlert:
    kind: str  # TEMPERATURE | HUMIDITY
    value: float
    limit: float
    at: datetime


@dataclass(slots=True)
class ErrorEpisode:
    """An error opened during the batch; `resolved_at` is set if it also ended in it."""

    error: ReportedError
    resolved_at: datetime | None = None


@dataclass
class Outcome:
    state: MachineState
    applied: list[Reading] = field(default_factory=list)
    status_change: StatusChange | None = None
    low_bunkers: list[LowBunker] = field(default_factory=list)
    environment_alerts: list[EnvironmentAlert] = field(default_factory=list)
    opened_errors: list[ErrorEpisode] = field(default_factory=list)
    #: code -> resolved_at, for errors that were open before the batch.
    resolved_errors: dict[str, datetime] = field(default_factory=dict)

    @property
    def critical_errors(self) -> list[ReportedError]:
        return [e.error for e in self.opened_errors if e.error.severity == CRITICAL]


def evaluate_batch(state: MachineState, readings: Iterable[Reading],
                   bunkers: Mapping[str, BunkerSpec], limits: EnvironmentLimits) -> Outcome:
    """Apply `readings` (new to the store, any order) to `state`.

    Readings not newer than `state.last_seen_at` are history only: they arrived late and
    change neither the state nor fire rules. Levels of bunkers missing from `bunkers` are
    ignored. While `state.status_held`, the reported status is not taken: levels, the
    environment and errors are judged as usual.
    """
    outcome = Outcome(state=state)
    levels = dict(state.bunker_levels)
    open_errors = dict(state.open_errors)
    episodes: dict[str, ErrorEpisode] = {}  # code -> episode opened in this batch
    status, last_seen = state.status, state.last_seen_at
    temperature_alert, humidity_alert = state.temperature_alert, state.humidity_alert
    status_changed_at: datetime | None = None

    for reading in sorted(readings, key=lambda r: r.timestamp):
        if last_seen is not None and reading.timestamp <= last_seen:
            continue
        outcome.applied.append(reading)
        at = last_seen = reading.timestamp
        if reading.status != status and not state.status_held:
            status, status_changed_at = reading.status, at

        for bunker_id, level in reading.bunker_levels.items():
            spec = bunkers.get(bunker_id)
            if spec is None:
                continue
            previous = levels.get(bunker_id, level)
            if bunker_crossed_low(previous, level, spec):
                outcome.low_bunkers.append(LowBunker(bunker_id, level, at))
            levels[bunker_id] = level

        temperature_alert, started = episode_step(
            temperature_alert, reading.temperature, limits.temperature,
            limits.temperature_hysteresis)
        if started:
            outcome.environment_alerts.append(
                EnvironmentAlert(TEMPERATURE, reading.temperature, limits.temperature, at))
        humidity_alert, started = episode_step(
            humidity_alert, reading.humidity, limits.humidity, limits.humidity_hysteresis)
        if started:
            outcome.environment_alerts.append(
                EnvironmentAlert(HUMIDITY, reading.humidity, limits.humidity, at))

        reported = {error.code: error for error in reading.errors}
        for code in [code for code in open_errors if code not in reported]:
            del open_errors[code]
            if code in episodes:
                episodes.pop(code).resolved_at = at
            else:
                outcome.resolved_errors[code] = at
        for code, error in reported.items():
            if code not in open_errors:
                open_errors[code] = OpenError(code, error.severity, error.occurred_at)
                episodes[code] = ErrorEpisode(error)
                outcome.opened_errors.append(episodes[code])

    if status != state.status:
        outcome.status_change = StatusChange(state.status, status, status_changed_at)
    outcome.state = replace(
        state, status=status, last_seen_at=last_seen, bunker_levels=levels,
        open_errors=open_errors, temperature_alert=temperature_alert,
        humidity_alert=humidity_alert,
    )
    return outcome


# -- the offline watchdog ----------------------------------------------------------------


def silence_limit(interval_seconds: int, factor: float) -> timedelta:
    """How long a machine may stay silent before it counts as offline."""
    return timedelta(seconds=interval_seconds * factor)


def is_silent(last_seen_at: datetime | None, now: datetime, *, interval_seconds: int,
              factor: float) -> bool:
    """True when the machine was last heard from longer ago than its silence limit.

    A machine never heard from (`last_seen_at` None) is silent.
    """
    if last_seen_at is None:
        return True
    return now - last_seen_at > silence_limit(interval_seconds, factor)
