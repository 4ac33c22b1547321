"""Route planning time: `operations.planning.plan_organization_day` for a fleet of 300
machines around Tashkent with run-out forecasts and 5 operators; goal < 10 s per plan.

    .venv/bin/python -m bench.route_plan              # 3 plans of tomorrow
    .venv/bin/python -m bench.route_plan --runs 5

It uses its own database (`ROUTE_BENCH_DATABASE_URL`, default
postgres://postgres@127.0.0.1:5432/vendhub_bench_routes), reseeded each run: one
organization, one depot in the centre, 5 operators (400 kg vans, 08:00-17:00 shifts),
300 machines within ~12 km with a coffee and a milk bunker each, whose forecasts run out
between now and 4 days from now (seeded random): about 230 need a visit tomorrow, more
than five 9-hour shifts can serve, so the plan also reports the machines it leaves out.
Each run deletes the day's routes and plans it from scratch; it records the wall time,
the routes, stops, kilometres and load, the machines left unassigned (and why), and checks
every route against its van's capacity and its shift. Results go to
bench/results/route-plan-latest.{jsonl,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DATABASE_URL = os.environ.get("ROUTE_BENCH_DATABASE_URL",
                              "postgres://postgres@127.0.0.1:5432/vendhub_bench_routes")
ORG_SLUG = "bench-routes"
MACHINES = 300
OPERATORS = 5
CENTER = (41.2995, 69.2401)
SPREAD = 0.11  # degrees: ~12 km
GOAL_S = 10.0
SEED = 15


def progress(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def seed() -> object:
    import django

    django.setup()
    from django.core.management import call_command

    from machines.models import (
        Bunker,
        Ingredient,
        Machine,
        MachineStatus,
        Membership,
        Organization,
        Role,
    )
    from operations.models import Depot, Forecast, ForecastMethod, OperatorProfile, PackSize
    from tests.factories import make_user

    call_command("migrate", verbosity=0, interactive=False)
    Organization.objects.filter(slug=ORG_SLUG).delete()
    org = Organization.objects.create(slug=ORG_SLUG, name="Bench routes",
                                      time_zone="Asia/Tashkent")
    depot = Depot.objects.create(organization=org, name="Tashkent depot",
                                 latitude=CENTER[0], longitude=CENTER[1])
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(username__startswith="bench-routes-").delete()
    for number in range(OPERATORS):
        user = make_user(f"bench-routes-op{number}", organization=org, role=Role.OPERATOR)
        OperatorProfile.objects.create(organization=org, user=user, start_depot=depot)
    assert Membership.objects.filter(organization=org).count() == OPERATORS
    coffee = Ingredient.objects.create(organization=org, name="Coffee beans")
    milk = Ingredient.objects.create(organization=org, name="Milk powder")
    PackSize.objects.create(organization=org, ingredient=coffee, quantity=1000)
    PackSize.objects.create(organization=org, ingredient=milk, quantity=500)
    rng = random.Random(SEED)
    now = datetime.now(UTC)
    machines = Machine.objects.bulk_create([Machine(
        organization=org, serial_number=f"BR-{i:04d}", name=f"Bench {i:03d}",
        latitude=round(CENTER[0] + rng.uniform(-SPREAD, SPREAD), 6),
        longitude=round(CENTER[1] + rng.uniform(-SPREAD, SPREAD), 6),
        status=MachineStatus.ONLINE) for i in range(MACHINES)])
    bunkers, forecasts = [], []
    for machine in machines:
        for ingredient, capacity in ((coffee, 2000), (milk, 3000)):
            level = rng.randint(int(capacity * 0.05), int(capacity * 0.9))
            bunker = Bunker(machine=machine, ingredient=ingredient, capacity_grams=capacity,
                            current_level_grams=level)
            bunkers.append(bunker)
            hours = rng.uniform(2, 96)
            runs_out = now + timedelta(hours=hours)
            forecasts.append(Forecast(
                machine=machine, bunker=bunker, level=level, rate_per_hour=level / hours,
                runs_out_at=runs_out, earliest_at=runs_out - timedelta(hours=hours * 0.1),
                method=ForecastMethod.RECENT, samples=200, computed_at=now))
    Bunker.objects.bulk_create(bunkers)
    Forecast.objects.bulk_create(forecasts)
    return org


def check(plan) -> list[str]:
    """Every route's load within its van, every visit within its operator's shift."""
    from operations.models import OperatorProfile

    problems = []
    profiles = {p.user_id: p for p in OperatorProfile.objects.filter(
        organization=plan.organization)}
    for route in plan.routes:
        profile = profiles[route.operator_id]
        if route.load_grams > profile.vehicle_capacity_kg * 1000:
            problems.append(f"{route}: load {route.load_grams} g over capacity")
        zone = route.starts_at.tzinfo if route.starts_at else UTC
        for visit in route.visits.all():
            if visit.planned_arrival is None:
                continue
            local_in = visit.planned_arrival.astimezone(plan_zone(plan))
            local_out = visit.planned_departure.astimezone(plan_zone(plan))
            if local_in.time() < profile.shift_start or local_out.time() > profile.shift_end:
                problems.append(f"{route}: {visit} outside the shift ({zone})")
    return problems


def plan_zone(plan):
    from operations.route_builder import zone_of

    return zone_of(plan.organization)


def run_in_child(args) -> None:
    org = seed()
    from django.db import connection

    from operations.models import Route
    from operations.planning import local_today, plan_organization_day

    day = local_today(org) + timedelta(days=1)
    rows = []
    for run in range(args.runs):
        Route.objects.filter(organization=org, date=day).delete()
        connection.close()
        started = time.perf_counter()
        plan = plan_organization_day(organization=org, date=day)
        elapsed = time.perf_counter() - started
        why = {}
        for item in plan.unassigned:
            why[item.why] = why.get(item.why, 0) + 1
        row = {
            "bench": "route_plan", "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "run": run + 1, "machines": MACHINES, "operators": OPERATORS,
            "seconds": round(elapsed, 2), "goal_s": GOAL_S, "met": elapsed < GOAL_S,
            "routes": len(plan.routes), "stops": plan.stops,
            "needing_visit": plan.stops + len(plan.unassigned),
            "km": round(plan.distance_m / 1000, 1), "load_kg": round(plan.load_grams / 1000, 1),
            "unassigned": len(plan.unassigned), "unassigned_why": why,
            "stops_per_route": [len(r.visits.all()) for r in plan.routes],
            "violations": check(plan),
            "load_average": os.getloadavg()[0],
        }
        progress(f"run {run + 1}: {row['seconds']} s, {row['stops']} stops, {row['km']} km, "
                 f"{row['unassigned']} unassigned {why}")
        rows.append(row)
    write(rows)


def write(rows: list[dict]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(RESULTS / "route-plan-latest.jsonl", "w") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")
    worst = max(row["seconds"] for row in rows)
    lines = [
        "# Route planning: 300 machines, 5 operators",
        "",
        f"Measured {rows[0]['at']} with `python -m bench.route_plan` "
        f"(plan_organization_day of tomorrow, from scratch each run; OR-Tools guided local "
        f"search, time limit OPERATIONS SOLVER_TIME_LIMIT_S = 5 s). Goal: < {GOAL_S:.0f} s "
        f"per plan: {'met' if worst < GOAL_S else 'NOT met'} (worst {worst} s).",
        "",
        "| run | seconds | routes | stops | needing a visit | km | load (kg) | unassigned "
        "(why) | stops per route | capacity/shift violations | load avg |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row['run']} | {row['seconds']} | {row['routes']} | {row['stops']} | "
            f"{row['needing_visit']} | {row['km']} | {row['load_kg']} | {row['unassigned']} "
            f"{row['unassigned_why'] or ''} | {row['stops_per_route']} | "
            f"{len(row['violations'])} | {row['load_average']:.2f} |")
    lines += ["", "Unassigned machines are those the five 9-hour shifts cannot reach with "
              "15 minutes of service each (`time`), reported by the plan, not dropped."]
    (RESULTS / "route-plan-latest.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_in_child(args)
        return
    sys.path.insert(0, str(ROOT))
    from bench.fixtures import ensure_database

    ensure_database(DATABASE_URL)
    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "DEBUG": "1", "DB_POOL": "0",
           "DJANGO_SETTINGS_MODULE": "vendhub.settings", "PYTHONUNBUFFERED": "1",
           "FAST_PASSWORD_HASHING": "1"}
    env.pop("REDIS_URL", None)  # route:updated goes to the in-memory layer
    subprocess.run([sys.executable, "-m", "bench.route_plan", "--child", "--runs",
                    str(args.runs)], cwd=ROOT, env=env, check=True)


if __name__ == "__main__":
    main()
