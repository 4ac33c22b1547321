"""Forecast error on the simulated fleet: how far the predicted run-out of a bunker is from
when it really ran empty, for the recent-rate method and the hour-of-day profile.

    .venv/bin/python -m bench.forecast_error                  # 50 machines x 21 days
    .venv/bin/python -m bench.forecast_error --machines 10 --days 10

In process, no server and no database: each machine is the simulator's own
(`telemetry.simulator.SimulatedMachine` selling through `telemetry.simulated_sales`, whose
customers follow the Tashkent hourly demand curve, `DEMAND_BY_HOUR`), posting a reading
every 5 minutes. Coffee and milk bunkers drain by the recipes' grams; a bunker that can no
longer serve a cup has run out (the actual run-out), and an operator refills it 1 to 6
hours later. Half the machines stand in offices (weekend demand x 0.4), so the profile has
weekdays and weekends to tell apart. The machines' demand (0.1 to 0.4 customers a minute on
average) is the simulator's known rate.

Every 6 simulated hours, for every bunker that is not empty, the rules of
`operations.forecast` predict the run-out from the readings so far, sampled one per 15
minutes over at most 14 days as `operations.forecasting` reads them, with the recent rate
(forced) and with the profile (from day 7 on, when the service would switch to it). The
error is |predicted - actual| in hours; points whose actual run-out lies beyond the
simulated period are left out (not known). Also: the share of actual run-outs inside the
predicted [earliest, latest] interval ("how sure" should hold ~80 %).
Results: bench/results/forecast-error-latest.{jsonl,md}.
"""

from __future__ import annotations

import argparse
import bisect
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from operations.forecast import (
    ForecastSettings,
    Prediction,
    Usage,
    predict,
    usage_from_levels,
)
from telemetry.simulated_sales import SimulatedSales, SimulatedSelection
from telemetry.simulator import Behaviour, SimulatedBunker, SimulatedMachine

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
ZONE = ZoneInfo("Asia/Tashkent")
START = datetime(2026, 3, 2, 0, 0, tzinfo=ZONE).astimezone(UTC)  # a Monday, local midnight
TICK = timedelta(minutes=5)
SAMPLE = timedelta(minutes=15)  # operations.forecasting.SAMPLE_MINUTES
HISTORY = timedelta(days=14)  # operations.forecasting.HISTORY_DAYS
EVERY = timedelta(hours=6)
CUP = {"coffee": 8, "milk": 15}  # the most grams one cup takes from each bunker
SEED = 15


def progress(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


class OfficeSales(SimulatedSales):
    """The simulator's till with fewer customers at weekends (an office building)."""

    weekend_factor: float = 0.4

    def demand(self, now: datetime) -> float:
        base = super().demand(now)
        return base * self.weekend_factor if now.astimezone(self.time_zone).weekday() >= 5 else base


@dataclass
class Track:
    """One bunker's readings and its actual run-outs."""

    times: list[datetime] = field(default_factory=list)
    levels: list[int] = field(default_factory=list)
    run_outs: list[datetime] = field(default_factory=list)
    refills: list[datetime] = field(default_factory=list)


def simulate(machines: int, days: int, seed: int) -> dict[tuple[int, str], Track]:
    rng = random.Random(seed)
    fleet, tracks, pending = [], {}, {}
    for number in range(machines):
        machine_rng = random.Random(rng.random())
        bunkers = [SimulatedBunker(f"{number}-coffee", 4000, machine_rng.randint(1500, 4000), 8),
                   SimulatedBunker(f"{number}-milk", 5000, machine_rng.randint(2000, 5000), 15)]
        selections = [
            SimulatedSelection("1", 9000, recipe=((bunkers[0].bunker_id, 8),), popularity=1.0),
            SimulatedSelection("2", 14000, recipe=((bunkers[0].bunker_id, 8),
                                                    (bunkers[1].bunker_id, 10)), popularity=1.5),
            SimulatedSelection("3", 15000, recipe=((bunkers[0].bunker_id, 8),
                                                    (bunkers[1].bunker_id, 15)), popularity=1.0),
        ]
        till_class = OfficeSales if number % 2 else SimulatedSales
        till = till_class(machine_id=str(number), serial_number=f"SIM{number}",
                          selections=selections, rng=machine_rng, time_zone=ZONE,
                          sales_per_minute=machine_rng.uniform(0.1, 0.4), collect_at=10**15,
                          collect_every=None)
        simulated = SimulatedMachine(machine_id=str(number), serial_number=f"SIM{number}",
                                     bunkers=bunkers, rng=machine_rng, behaviour=Behaviour(),
                                     sales=till)
        fleet.append(simulated)
        for kind in ("coffee", "milk"):
            tracks[(number, kind)] = Track()
    now, end = START, START + timedelta(days=days)
    while now < end:
        now += TICK
        for number, machine in enumerate(fleet):
            readings = machine.step(now, TICK.total_seconds())
            machine.vends.clear()
            machine.audits.clear()
            for reading in readings:
                at = datetime.fromisoformat(reading["timestamp"])
                for entry in reading["bunkers"]:
                    kind = entry["bunkerId"].split("-")[1]
                    track = tracks[(number, kind)]
                    if track.times and at <= track.times[-1]:
                        continue
                    track.times.append(at)
                    track.levels.append(entry["currentLevel"])
            for bunker in machine.bunkers:
                kind = bunker.bunker_id.split("-")[1]
                key = (number, kind)
                if key not in pending and bunker.level < CUP[kind]:
                    tracks[key].run_outs.append(now)  # can serve no cup that needs it
                    pending[key] = now + timedelta(hours=machine.rng.uniform(1, 6))
                elif key in pending and now >= pending[key]:
                    machine.refill(bunker.bunker_id)
                    tracks[key].refills.append(now)
                    del pending[key]
    return tracks


@dataclass
class Point:
    machine: int
    kind: str
    at: datetime
    actual_hours: float
    day: float
    errors: dict[str, float | None]
    inside: dict[str, bool | None]


def _sampled(track: Track) -> tuple[list[datetime], list[int]]:
    times, levels, slot = [], [], None
    for at, level in zip(track.times, track.levels, strict=True):
        current = int(at.timestamp() // SAMPLE.total_seconds())
        if current != slot:
            slot = current
            times.append(at)
            levels.append(level)
    return times, levels


def evaluate(tracks: dict[tuple[int, str], Track], days: int) -> list[Point]:
    recent_only = ForecastSettings(profile_days=10**6)
    service = ForecastSettings()
    points = []
    end = START + timedelta(days=days)
    for (machine, kind), track in tracks.items():
        sample_times, sample_levels = _sampled(track)
        usages = usage_from_levels(list(zip(sample_times, sample_levels, strict=True)),
                                   refill_tolerance=max(20.0, 4000 * 0.02))
        usage_ends = [usage.end for usage in usages]
        at = START + EVERY
        while at < end:
            index = bisect.bisect_right(track.times, at) - 1
            # Refills come only after a run-out: the next run-out is this level's end.
            actual = next((t for t in track.run_outs if t > at), None)
            empty = not _refilled_since_last(track, at)
            if index < 0 or actual is None or empty or track.levels[index] < CUP[kind]:
                at += EVERY
                continue
            level = track.levels[index]
            first = bisect.bisect_left(usage_ends, at - HISTORY)
            last = bisect.bisect_right(usage_ends, at)
            history: list[Usage] = usages[first:last]
            actual_hours = (actual - at).total_seconds() / 3600
            errors, inside = {}, {}
            for method, options in (("recent", recent_only), ("profile", service)):
                prediction = predict(history, level=level, now=at, zone=ZONE, settings=options)
                if method == "profile" and prediction.method != "profile":
                    errors[method], inside[method] = None, None
                    continue
                errors[method], inside[method] = _error(prediction, actual, at)
            points.append(Point(machine, kind, at, actual_hours,
                                (at - START).total_seconds() / 86400, errors, inside))
            at += EVERY
    return points


def _refilled_since_last(track: Track, at: datetime) -> bool:
    """Whether the last run-out before `at` has been refilled by `at`."""
    before = [t for t in track.run_outs if t <= at]
    if not before:
        return True
    return any(before[-1] < r <= at for r in track.refills)


def _error(prediction: Prediction, actual: datetime, at: datetime) -> tuple[float | None, bool]:
    if prediction.runs_out_at is None:
        return None, False  # said "not within 30 days" (or nothing): counted apart
    error = abs((prediction.runs_out_at - actual).total_seconds()) / 3600
    earliest = prediction.earliest_at or at
    inside = earliest <= actual and (prediction.latest_at is None or actual <= prediction.latest_at)
    return error, inside


def summarize(points: list[Point], method: str, *, min_day: float = 0,
              max_lead: float | None = None, min_lead: float = 0) -> dict:
    chosen = [p for p in points if p.day >= min_day and p.actual_hours >= min_lead
              and (max_lead is None or p.actual_hours < max_lead) and method in p.errors]
    known = [p.errors[method] for p in chosen if p.errors[method] is not None]
    inside = [p.inside[method] for p in chosen if p.inside[method] is not None]
    unforecast = sum(1 for p in chosen if p.errors[method] is None)
    if not known:
        return {"points": len(chosen), "forecast": 0}
    known.sort()
    return {
        "points": len(chosen), "forecast": len(known), "no_forecast": unforecast,
        "median_h": round(statistics.median(known), 2),
        "p90_h": round(known[min(len(known) - 1, int(0.9 * len(known)))], 2),
        "mean_lead_h": round(statistics.mean(p.actual_hours for p in chosen), 1),
        "interval_coverage": round(sum(inside) / len(inside), 3) if inside else None,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=50)
    parser.add_argument("--days", type=int, default=21)
    parser.add_argument("--seed", type=int, default=SEED)
    options = parser.parse_args(argv)
    started = time.perf_counter()
    progress(f"simulating {options.machines} machines x {options.days} days")
    tracks = simulate(options.machines, options.days, options.seed)
    run_outs = sum(len(t.run_outs) for t in tracks.values())
    progress(f"{run_outs} run-outs; predicting every {EVERY.total_seconds() / 3600:g} h")
    points = evaluate(tracks, options.days)
    seconds = round(time.perf_counter() - started, 1)
    progress(f"{len(points)} points in {seconds} s")
    rows = []
    for label, filters in (
        ("days 1-7 (recent only)", {"min_day": 0}),
        ("day 7 on", {"min_day": 7}),
        ("day 7 on, run-out < 12 h ahead", {"min_day": 7, "max_lead": 12}),
        ("day 7 on, 12-36 h ahead", {"min_day": 7, "min_lead": 12, "max_lead": 36}),
        ("day 7 on, > 36 h ahead", {"min_day": 7, "min_lead": 36}),
    ):
        methods = ("recent",) if "recent only" in label else ("recent", "profile")
        for method in methods:
            subset = filters
            if "recent only" in label:
                chosen = [p for p in points if p.day < 7]
                summary = summarize(chosen, method)
            else:
                summary = summarize(points, method, **subset)
            rows.append({"bench": "forecast_error", "at": datetime.now(UTC).isoformat(
                timespec="seconds"), "set": label, "method": method,
                "machines": options.machines, "days": options.days, **summary})
    RESULTS.mkdir(parents=True, exist_ok=True)
    with (RESULTS / "forecast-error-latest.jsonl").open("w") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")
    (RESULTS / "forecast-error-latest.md").write_text(_markdown(rows, options, run_outs,
                                                                len(points), seconds))
    print((RESULTS / "forecast-error-latest.md").read_text())


def _markdown(rows: list[dict], options, run_outs: int, points: int, seconds: float) -> str:
    lines = [
        f"# Forecast error: {options.machines} simulated machines x {options.days} days",
        "",
        f"Measured {rows[0]['at']} with `python -m bench.forecast_error` (seed "
        f"{options.seed}; {run_outs} actual run-outs; {points} forecasts, one per bunker "
        f"every 6 h while not empty; {seconds} s). Absolute error |predicted - actual| of "
        "the run-out time in hours; coverage: share of actual run-outs inside the "
        "predicted [earliest, latest] (80 % intended). The profile method applies from day 7 "
        "(as the service switches to it); \"recent\" is the recent-rate method forced on the "
        "same points.",
        "",
        "| set | method | points | median (h) | p90 (h) | mean lead (h) | coverage |"
        " no forecast |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(f"| {row['set']} | {row['method']} | {row.get('forecast', 0)} | "
                     f"{row.get('median_h', '-')} | {row.get('p90_h', '-')} | "
                     f"{row.get('mean_lead_h', '-')} | {row.get('interval_coverage', '-')} | "
                     f"{row.get('no_forecast', 0)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

