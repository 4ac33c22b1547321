"""Sales report latency over the daily rollups of 10 million vends: `sales.reports` (the
selector) and `GET /api/v1/sales/report/` (the endpoint, in process: Django's test client
with a JWT, every middleware) for each `groupBy`, over 30 and 365 days; goal < 300 ms. The
reports read the narrower rollups (DailyMachineSales, DailyProductSales); the same selector
over DailySales alone (`tables=WIDEST`, what reports read before them) is timed beside it,
and the admin's DailySales changelist as a superuser and as the organization's staff.

    .venv/bin/python -m bench.sales_report                 # seed (once), measure
    .venv/bin/python -m bench.sales_report --runs 30 --long-runs 10 --reseed

It uses its own database (`SALES_BENCH_DATABASE_URL`, default
postgres://postgres@127.0.0.1:5432/vendhub_bench_sales). The fleet: one organization, 300
machines, 40 products, 3 payment methods, a year of days ending today. What 10 M vends
leave in `DailySales` is one row per machine × product × method × day that sold at least
once: each such combination sells with a probability weighted by the machine's traffic,
the product's popularity and the method's share, 1 or 2 vends a row, calibrated so that
the year holds about 10 M vends (about 6.7 M rows). Three machines sold nothing in the
last 45 days (the bottom list must show them). Rows are inserted by PostgreSQL itself
(`INSERT ... SELECT` over `generate_series`, a month per statement, secondary indexes
dropped during the load and rebuilt after, then the narrower rollups summed from them as
the demo seed does (`sales.rollups`), then VACUUM ANALYZE): no Python row objects. Results
go to bench/results/sales-report-latest.{jsonl,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DATABASE_URL = os.environ.get("SALES_BENCH_DATABASE_URL",
                              "postgres://postgres@127.0.0.1:5432/vendhub_bench_sales")
ORG_SLUG = "bench-sales"
MANAGER = "bench-sales-manager"
MACHINES = 300
PRODUCTS = 40
DAYS = 365
TARGET_VENDS = 10_000_000
VENDS_PER_ROW = 1.5  # 1 or 2, evenly
SILENT_DAYS = 45
METHODS = {"cash": 1.35, "card": 0.9, "mobile": 0.75}  # shares 45 / 30 / 25 %
GOAL_MS = 300
RANGES = (30, 365)


def progress(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def machine_weight(i: int) -> float:
    return 0.6 + 0.8 * ((i * 37) % MACHINES) / (MACHINES - 1)


def product_weight(k: int) -> float:
    return 1.6 - 1.2 * k / (PRODUCTS - 1)


def is_silent(i: int) -> bool:
    return i % 100 == 7


def base_probability() -> float:
    """The selling probability of an average combination, so that a year of rows holds
    TARGET_VENDS (bisection over the capped weights; silent machines ignored)."""
    weights = [machine_weight(i) * product_weight(k) * w
               for i in range(MACHINES) for k in range(PRODUCTS) for w in METHODS.values()]

    def vends(p: float) -> float:
        return sum(min(1.0, p * w) for w in weights) * DAYS * VENDS_PER_ROW

    low, high = 0.0, 1.0
    for _ in range(50):
        middle = (low + high) / 2
        low, high = (middle, high) if vends(middle) < TARGET_VENDS else (low, middle)
    return (low + high) / 2


_INSERT = """
INSERT INTO sales_dailysales (id, created_at, updated_at, organization_id, machine_id,
                              product_id, payment_method, day, vends, revenue)
SELECT gen_random_uuid(), now(), now(), %(org)s, s.machine, s.product, s.method, s.day,
       s.vends, s.vends * s.price
FROM (
    SELECT m.id AS machine, p.id AS product, p.price, pm.method, d.day::date AS day,
           1 + (random() < 0.5)::int AS vends
    FROM unnest(%(machines)s::uuid[], %(machine_weights)s::float8[], %(silent)s::bool[])
         AS m(id, weight, silent)
    CROSS JOIN unnest(%(products)s::uuid[], %(product_weights)s::float8[], %(prices)s::bigint[])
         AS p(id, weight, price)
    CROSS JOIN unnest(%(methods)s::text[], %(method_weights)s::float8[]) AS pm(method, weight)
    CROSS JOIN generate_series(%(start)s::date, %(end)s::date, interval '1 day') AS d(day)
    WHERE random() < %(p)s * m.weight * p.weight * pm.weight
      AND NOT (m.silent AND d.day > %(silent_from)s::date)
    OFFSET 0
) AS s
"""


def seed(reseed: bool) -> dict:
    """Runs with Django set up on the bench database: migrate, the fleet, the rollups (once;
    again with `reseed`). Returns what the measurements need."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count, Sum

    from machines.models import Machine, Membership, Organization, Role
    from sales import rollups
    from sales.ingest import sales_day
    from sales.models import DailyMachineSales, DailyProductSales, DailySales, Product

    call_command("migrate", verbosity=0, interactive=False)
    org, _ = Organization.objects.get_or_create(slug=ORG_SLUG, defaults={"name": "Bench sales"})
    user, _ = get_user_model().objects.get_or_create(username=MANAGER)
    Membership.objects.get_or_create(user=user, organization=org,
                                     defaults={"role": Role.MANAGER})
    if Machine.objects.filter(organization=org).count() != MACHINES:
        Machine.objects.filter(organization=org).delete()
        Machine.objects.bulk_create([
            Machine(organization=org, serial_number=f"SN-SALES-{i:04d}",
                    name=f"Sales machine {i:04d}") for i in range(MACHINES)])
    if Product.objects.filter(organization=org).count() != PRODUCTS:
        DailySales.objects.filter(organization=org).delete()
        rollups.rebuild_narrow_rollups(organization_ids=[org.pk])  # none left either
        Product.objects.filter(organization=org).delete()
        Product.objects.bulk_create([
            Product(organization=org, name=f"Product {k:02d}", sku=f"SKU-{k:02d}")
            for k in range(PRODUCTS)])
    end = sales_day(datetime.now(UTC), org.time_zone)
    start = end - timedelta(days=DAYS - 1)
    rows = DailySales.objects.filter(organization=org)
    fresh = rows.filter(day=end).exists() and rows.filter(day=start).exists()
    if reseed or not fresh:
        _load(connection, org, start, end)
    totals = rows.aggregate(rows=Count("id"), vends=Sum("vends"), revenue=Sum("revenue"))
    return {"organization": org.pk, "user": user.pk, "end": end, **totals,
            "machine_rows": DailyMachineSales.objects.filter(organization=org).count(),
            "product_rows": DailyProductSales.objects.filter(organization=org).count()}


def _load(connection, org, start: date, end: date) -> None:
    from machines.models import Machine
    from sales import rollups
    from sales.models import DailySales, Product

    progress(f"deleting the old rollups of {org.slug}")
    DailySales.objects.filter(organization=org).delete()
    machines = list(Machine.objects.filter(organization=org).order_by("serial_number")
                    .values_list("pk", flat=True))
    products = list(Product.objects.filter(organization=org).order_by("sku")
                    .values_list("pk", flat=True))
    p = base_probability()
    params = {
        "org": org.pk, "p": p,
        "machines": machines, "machine_weights": [machine_weight(i) for i in range(MACHINES)],
        "silent": [is_silent(i) for i in range(MACHINES)],
        "products": products, "product_weights": [product_weight(k) for k in range(PRODUCTS)],
        "prices": [5000 + 1000 * (k % 26) for k in range(PRODUCTS)],
        "methods": list(METHODS), "method_weights": list(METHODS.values()),
        "silent_from": end - timedelta(days=SILENT_DAYS),
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = "
                       "'sales_dailysales' AND indexname NOT LIKE '%%pkey'")
        indexes = cursor.fetchall()
        progress(f"dropping {len(indexes)} secondary indexes for the load")
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("SELECT setseed(0.13)")
        day, inserted, started = start, 0, time.monotonic()
        while day <= end:
            last = min(end, day + timedelta(days=29))
            cursor.execute(_INSERT, {**params, "start": day, "end": last})
            inserted += cursor.rowcount
            progress(f"rollups {day}..{last}: {inserted:,} rows so far "
                     f"({time.monotonic() - started:.0f} s)")
            day = last + timedelta(days=1)
        for name, definition in indexes:
            progress(f"rebuilding {name}")
            cursor.execute(definition)
    progress("summing the narrower rollups")
    rollups.rebuild_narrow_rollups(organization_ids=[org.pk])
    progress("VACUUM ANALYZE")
    with connection.cursor() as cursor:
        for table in ("sales_dailysales", "sales_dailymachinesales", "sales_dailyproductsales"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    progress(f"seeded {inserted:,} rows in {time.monotonic() - started:.0f} s")


def _summary(times: list[float]) -> dict:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_ms": round(statistics.median(ordered) * 1000, 1),
            "p95_ms": round(p95 * 1000, 1), "max_ms": round(ordered[-1] * 1000, 1)}


def measure(seeded: dict, runs: int, long_runs: int, wide_runs: int) -> list[dict]:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from rest_framework_simplejwt.tokens import AccessToken

    from sales import reports

    user = get_user_model().objects.get(pk=seeded["user"])
    end = seeded["end"]
    out = []
    for days in RANGES:
        count = runs if days <= 31 else long_runs
        start = end - timedelta(days=days - 1)
        scope = reports.ReportScope(organization_ids=(seeded["organization"],), start=start,
                                    end=end)
        counts = {model: reports.rollups_in(scope, model).count()
                  for model in {*reports.NARROWEST.values(), reports.DailySales}}
        for group_by in reports.GROUP_BY:
            # What the report reads: its grouping's table, and the machines' for the extremes.
            read = {reports.NARROWEST[reports.KEYS[group_by]], reports.NARROWEST["machine_id"]}
            rows = sum(counts[model] for model in read)
            reports.sales_report(scope, group_by)  # warm the cache once
            # A token per series: a year's series outlasts an access token's lifetime.
            client = Client(HTTP_HOST="localhost",
                            HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
            load = os.getloadavg()[0]
            selector = []
            for _ in range(count):
                started = time.perf_counter()
                reports.sales_report(scope, group_by)
                selector.append(time.perf_counter() - started)
            query = {"from": start.isoformat(), "to": end.isoformat(), "groupBy": group_by}
            endpoint, size = [], 0
            for _ in range(count):
                started = time.perf_counter()
                response = client.get("/api/v1/sales/report/", query)
                endpoint.append(time.perf_counter() - started)
                assert response.status_code == 200, response.content[:300]
                size = len(response.content)
            wide = []
            for _ in range(wide_runs):
                started = time.perf_counter()
                reports.sales_report(scope, group_by, tables=reports.WIDEST)
                wide.append(time.perf_counter() - started)
            result = {"days": days, "group_by": group_by, "rollup_rows": rows,
                      "tables": sorted(model._meta.db_table for model in read),
                      "daily_sales_rows": counts[reports.DailySales], "runs": count,
                      "selector": _summary(selector), "endpoint": _summary(endpoint),
                      "daily_sales_selector": _summary(wide) if wide else None,
                      "bytes": size, "load_before": round(load, 2),
                      "load_after": round(os.getloadavg()[0], 2)}
            result["met"] = result["endpoint"]["p95_ms"] < GOAL_MS
            progress(f"{days:>3} days, {group_by:<13} selector {result['selector']['median_ms']}"
                     f" ms, endpoint {result['endpoint']['median_ms']} ms (p95 "
                     f"{result['endpoint']['p95_ms']})")
            out.append(result)
    return out


#: The admin's DailySales changelist: (name, query string). `{month}`: this month's first day.
ADMIN_PAGES = [("unfiltered", {}), ("cash only", {"payment_method__exact": "cash"}),
               ("this month", {"day__gte": "{month}"}), ("one machine's serial", {"q": "0042"})]


def measure_admin(seeded: dict, runs: int) -> list[dict]:
    """The DailySales changelist (the rows' page, its count and the sales figures above it)
    as a superuser and as the organization's manager made staff with the sales permissions."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.test import Client

    users = get_user_model().objects
    root, _ = users.get_or_create(username=f"{MANAGER}-root",
                                  defaults={"is_superuser": True, "is_staff": True})
    staff = users.get(pk=seeded["user"])
    staff.is_staff = True
    staff.save()
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="sales"))
    month = seeded["end"].replace(day=1).isoformat()
    out = []
    for who, user in [("superuser", root), ("staff", staff)]:
        client = Client(HTTP_HOST="localhost")
        client.force_login(user)
        for name, query in ADMIN_PAGES:
            query = {key: value.format(month=month) for key, value in query.items()}
            times = []
            for _ in range(runs + 1):
                started = time.perf_counter()
                response = client.get("/admin/sales/dailysales/", query)
                times.append(time.perf_counter() - started)
                assert response.status_code == 200, response.status_code
            result = {"user": who, "page": name, **_summary(times[1:])}
            progress(f"admin {who} {name}: {result['median_ms']} ms")
            out.append(result)
    return out


def _ms(summary: dict | None) -> str:
    return f"{summary['median_ms']} / {summary['p95_ms']} ms" if summary else "–"


def write(run: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    shared = {k: v for k, v in run.items() if k not in ("results", "admin", "days")}
    (RESULTS / "sales-report-latest.jsonl").write_text(
        "".join(json.dumps({**shared, "kind": "report", **r}) + "\n" for r in run["results"])
        + "".join(json.dumps({**shared, "kind": "admin", **a}) + "\n"
                  for a in run.get("admin", [])))
    lines = [
        f"Sales report latency ({run['started']}, git `{run['git']}`"
        f"{' with uncommitted report code' if run['dirty'] else ''}; PostgreSQL "
        f"{run['postgres']}, 2-core machine shared with other work). The rollups of "
        f"{run['vends']:,} vends: {run['rows']:,} `DailySales` rows ({MACHINES} machines × "
        f"{PRODUCTS} products × {len(METHODS)} payment methods × {DAYS} days, a row per "
        f"combination that sold that day), summed into {run['machine_rows']:,} "
        f"`DailyMachineSales` (machine × method × day) and {run['product_rows']:,} "
        f"`DailyProductSales` (product × method × day) rows. Endpoint: `GET "
        f"/api/v1/sales/report/` in process (Django's test client, JWT, every middleware; top "
        f"and bottom machines included); selector: `sales.reports.sales_report`, reading the "
        f"narrowest rollup of each sum; beside it the same selector over `DailySales` alone "
        f"(`tables=WIDEST`, how reports read before the narrower rollups; "
        f"{run['wide_runs']} runs). {run['runs']} runs of each 30-day report and "
        f"{run['long_runs']} of each 365-day one, after one warm-up; goal: p95 < {GOAL_MS} ms. "
        f"The machine's 1-minute load average before and after each series is in the last "
        f"column: other work shared the 2 cores.",
        "",
        "| range | groupBy | rows read (tables) | selector median / p95 | endpoint median / "
        "p95 | over DailySales alone (rows) | body | goal | load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in run["results"]:
        tables = " + ".join(t.removeprefix("sales_daily") for t in r["tables"])
        lines.append(
            f"| {r['days']} days | {r['group_by']} | {r['rollup_rows']:,} ({tables}) | "
            f"{_ms(r['selector'])} | {_ms(r['endpoint'])} | {_ms(r['daily_sales_selector'])} "
            f"({r['daily_sales_rows']:,}) | {r['bytes'] / 1000:.1f} KB | "
            f"{'met' if r['met'] else 'missed'} | {r['load_before']} → {r['load_after']} |")
    lines += [
        "",
        f"The admin's daily sales list (`/admin/sales/dailysales/`: the page of 100 rows, their "
        f"count and the sales figures above them; in process, {run['admin_runs']} runs after "
        f"one warm-up) as a superuser and as the organization's manager made staff:",
        "",
        "| user | list | median / p95 |",
        "|---|---|---|",
    ]
    for a in run.get("admin", []):
        lines.append(f"| {a['user']} | {a['page']} | {_ms(a)} |")
    (RESULTS / "sales-report-latest.md").write_text("\n".join(lines) + "\n")


def run_in_child(args) -> None:
    seeded = seed(args.reseed)
    from django.db import connection

    postgres = connection.cursor().connection.info.server_version
    git = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT,
                         capture_output=True, text=True).stdout.strip()
    run = {"started": datetime.now(UTC).strftime("%Y%m%d-%H%M%S"), "git": git,
           "postgres": f"{postgres // 10000}.{postgres % 10000}", "runs": args.runs,
           "long_runs": args.long_runs, "wide_runs": args.wide_runs,
           "admin_runs": args.admin_runs, "machine_rows": seeded["machine_rows"],
           "product_rows": seeded["product_rows"], "rows": seeded["rows"],
           "vends": seeded["vends"], "revenue": seeded["revenue"],
           "machines": MACHINES, "products": PRODUCTS, "days_seeded": DAYS,
           "dirty": bool(subprocess.run(["git", "status", "--porcelain", "--", "sales/reports.py",
                                          "sales/views_reports.py", "sales/admin_reports.py",
                                          "sales/admin_rollups.py"], cwd=ROOT,
                                         capture_output=True, text=True).stdout.strip())}
    run["results"] = measure(seeded, args.runs, args.long_runs, args.wide_runs)
    run["admin"] = measure_admin(seeded, args.admin_runs)
    write(run)
    print(json.dumps(run, indent=2, default=str))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs of each 30-day report")
    parser.add_argument("--long-runs", type=int, default=10,
                        help="runs of each 365-day report")
    parser.add_argument("--wide-runs", type=int, default=3,
                        help="runs of each report over DailySales alone (0: none)")
    parser.add_argument("--admin-runs", type=int, default=5,
                        help="runs of each admin list")
    parser.add_argument("--reseed", action="store_true", help="drop and load the rollups again")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_in_child(args)
        return
    sys.path.insert(0, str(ROOT))
    from bench.fixtures import ensure_database

    ensure_database(DATABASE_URL)
    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "DEBUG": "1", "DB_POOL": "0",
           "DJANGO_SETTINGS_MODULE": "vendhub.settings", "PYTHONUNBUFFERED": "1"}
    env.pop("REDIS_URL", None)  # the report publishes nothing: the in-memory layer will do
    command = [sys.executable, "-m", "bench.sales_report", "--child", "--runs", str(args.runs),
               "--long-runs", str(args.long_runs), "--wide-runs", str(args.wide_runs),
               "--admin-runs", str(args.admin_runs)]
    if args.reseed:
        command.append("--reseed")
    subprocess.run(command, cwd=ROOT, env=env, check=True)


if __name__ == "__main__":
    main()
