"""Which machines need a visit on a day, and why: pure decisions over facts read elsewhere
(`operations.plan_inputs`), no I/O.

A machine is visited on day D when waiting for the next chance (the day after, i.e. the
planning horizon from D's start) would leave it broken, empty, full of cash or dirty.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

#: Visit.reasons keys, in the order they are listed.
RUNS_OUT = "runs_out"
CRITICAL_ERROR = "critical_error"
CASH = "cash"
CLEANING = "cleaning"
TASK = "task"
#: A manager placed the machine on the route by hand (a move).
MANUAL = "manual"
REASONS = (RUNS_OUT, CRITICAL_ERROR, CASH, CLEANING, TASK)


@dataclass(frozen=True)
class MachineFacts:
    """What the visit rules read of one machine."""

    machine_id: object
    #: The earliest run-out of any of its bunkers or slots: each forecast's `earliest_at`
    #: (the pessimistic end of its range) or, without one, its `runs_out_at`.
    run_out_times: tuple[datetime, ...] = ()
    open_critical_errors: int = 0
    cash_expected: int = 0
    cash_threshold: int = 0  # 0: the organization collects no cash by threshold
    #: When its last cleaning task was done; None: never (counted from `in_service_since`).
    last_cleaning_at: datetime | None = None
    in_service_since: datetime | None = None
    open_tasks: int = 0  # open refill / collection tasks
    extra: dict = field(default_factory=dict)


def earliest_run_out(runs_out_at: datetime | None, earliest_at: datetime | None
                     ) -> datetime | None:
    """The time a forecast says the item may be empty: the early end of its range when it
    has one (a van that comes late finds an empty machine; one that comes early brings a
    little less), else its point estimate."""
    candidates = [value for value in (earliest_at, runs_out_at) if value is not None]
    return min(candidates) if candidates else None


def next_chance(day_start: datetime, horizon_hours: int) -> datetime:
    return day_start + timedelta(hours=horizon_hours)


def visit_reasons(facts: MachineFacts, *, day_start: datetime, horizon_hours: int,
                  cleaning_interval_days: int) -> list[str]:
    """The reasons (keys of `REASONS`, in that order) to visit the machine on the day that
    starts at `day_start`; empty when it can wait."""
    reasons = []
    deadline = next_chance(day_start, horizon_hours)
    if any(moment < deadline for moment in facts.run_out_times):
        reasons.append(RUNS_OUT)
    if facts.open_critical_errors > 0:
        reasons.append(CRITICAL_ERROR)
    if facts.cash_threshold > 0 and facts.cash_expected >= facts.cash_threshold:
        reasons.append(CASH)
    if cleaning_overdue(facts.last_cleaning_at or facts.in_service_since, day_start=day_start,
                        interval_days=cleaning_interval_days):
        reasons.append(CLEANING)
    if facts.open_tasks > 0:
        reasons.append(TASK)
    return reasons


def cleaning_overdue(last_cleaned: datetime | None, *, day_start: datetime,
                     interval_days: int) -> bool:
    """Whether the machine is due a cleaning by the end of the planned day (the next chance
    is a day later): not when nothing is known of it (no cleaning and no service start)."""
    if last_cleaned is None:
        return False
    return last_cleaned + timedelta(days=interval_days) <= day_start + timedelta(days=1)


def priority(reasons: Iterable[str]) -> int:
    """How much leaving the machine unvisited costs, relative to other candidates: a broken
    machine first, then one running empty; the solver drops cheaper stops first when the
    day is too short or the vans too small."""
    weights = {CRITICAL_ERROR: 8, RUNS_OUT: 4, CASH: 3, TASK: 2, CLEANING: 1, MANUAL: 8}
    return sum(weights.get(reason, 1) for reason in reasons) or 1
