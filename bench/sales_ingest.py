"""Sales ingest: vends posted in batches to `POST /api/v1/sales/` (then the same batches again:
every vend a duplicate) and a month of DEX audits of a 300-machine fleet posted to
`POST /api/v1/audits/`, both over HTTP to one server started as README's production command.

    .venv/bin/python -m bench.sales_ingest                    # seed, serve, measure
    .venv/bin/python -m bench.sales_ingest --vends 20000 --audits 2000   # a quick look

Measured like the telemetry ingest of the harness (bench/scenarios/ingest.py): devices on
keep-alive HTTP/1.1 (aiohttp), each request a device key's own batch, `--concurrency`
requests in flight, CPU of the server and of PostgreSQL from /proc, other jobs' CPU on the
machine reported (bench/machine.py). It uses its own database (`SALES_BENCH_DATABASE_URL`,
default postgres://postgres@127.0.0.1:5432/vendhub_bench_sales_ingest), emptied of vends and
audits at every run, and Redis database 13 under a `bench-sales` prefix. Every phase has a
time limit. Results go to bench/results/sales-ingest-latest.{jsonl,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.sales_fixtures import AUDIT_SEED, PRICES, SELECTIONS, audit_files, vend_batches

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DATABASE_URL = os.environ.get("SALES_BENCH_DATABASE_URL",
                              "postgres://postgres@127.0.0.1:5432/vendhub_bench_sales_ingest")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
ORG_SLUG = "bench-sales"
SERIAL_PREFIX = "SN-SALES-"
PHASE_TIMEOUT_S = 600
GOALS = {"vends_per_s": 5000, "audit_import_s": 60}


def seed(machines: int) -> dict:
    """In a child process with Django set up: migrate, the fleet once (machines, products,
    a planogram each, coffee recipes on every other machine), then a fresh device key per
    machine and no vends, rollups or audits left from an earlier run."""
    import django

    django.setup()
    from django.core.management import call_command

    from machines.models import Bunker, Ingredient, Machine, Organization
    from sales import rollups
    from sales.models import AuditRecord, DailySales, Product, Vend, VendKey
    from sales.services import RecipeSpec, SelectionSpec, create_planogram_version
    from telemetry.device_keys import issue_device_key
    from telemetry.models import DeviceKey

    call_command("migrate", verbosity=0, interactive=False)
    org, _ = Organization.objects.get_or_create(slug=ORG_SLUG, defaults={"name": "Bench sales"})
    fleet = Machine.objects.filter(organization=org)
    if fleet.count() != machines:
        fleet.delete()
        Machine.objects.bulk_create([
            Machine(organization=org, serial_number=f"{SERIAL_PREFIX}{i:05d}",
                    name=f"Sales machine {i:05d}") for i in range(machines)])
        coffee, _ = Ingredient.objects.get_or_create(organization=org, name="Coffee beans")
        milk, _ = Ingredient.objects.get_or_create(organization=org, name="Milk powder")
        products = {code: Product.objects.get_or_create(
            organization=org, sku=f"BENCH-{code}", defaults={"name": f"Product {code}"})[0]
            for code in SELECTIONS}
        epoch = datetime.now(UTC) - timedelta(days=400)
        for n, machine in enumerate(fleet.order_by("serial_number")):
            coffee_machine = n % 2 == 0
            if coffee_machine:
                Bunker.objects.bulk_create([
                    Bunker(machine=machine, ingredient=coffee, capacity_grams=2000,
                           current_level_grams=1800),
                    Bunker(machine=machine, ingredient=milk, capacity_grams=2000,
                           current_level_grams=1800)])
            create_planogram_version(machine=machine, effective_from=epoch, selections=[
                SelectionSpec(code, products[code].pk, PRICES[code], recipe=(
                    (RecipeSpec(coffee.pk, 9), RecipeSpec(milk.pk, 6))
                    if coffee_machine and int(code) <= 6 else ()))
                for code in SELECTIONS])
            print(f"seed: planogram {n + 1}/{machines}", flush=True) if n % 100 == 99 else None
    Vend.objects.filter(machine__organization=org).delete()
    VendKey.objects.filter(machine__organization=org).delete()
    DailySales.objects.filter(organization=org).delete()
    rollups.rebuild_narrow_rollups(organization_ids=[org.pk])  # none left either
    AuditRecord.objects.filter(machine__organization=org).delete()
    DeviceKey.objects.filter(machine__organization=org).delete()
    keys = [{"machine": str(m.pk), "serial": m.serial_number,
             "key": issue_device_key(machine=m, label="bench").plaintext}
            for m in fleet.order_by("serial_number")]
    return {"keys": keys, "time_zone": org.time_zone}


def import_service(count: int) -> dict:
    """In a child process with Django set up: the same audit files imported by calling
    `sales.audits.import_audit` (no HTTP, no device-key check), after the audits the HTTP
    phase stored are deleted. Progress on stderr."""
    import django

    django.setup()
    from machines.models import Machine
    from sales.audits import import_audit
    from sales.models import AuditRecord

    AuditRecord.objects.filter(machine__organization__slug=ORG_SLUG).delete()
    machines = list(Machine.objects.filter(organization__slug=ORG_SLUG)
                    .select_related("organization").order_by("serial_number"))
    keys = [{"machine": m, "serial": m.serial_number} for m in machines]
    per_day = audit_files(keys, count, machines[0].organization.time_zone,
                          random.Random(AUDIT_SEED))
    created, t0, cpu0 = 0, time.monotonic(), time.process_time()
    for day, files in enumerate(per_day):
        for key, body in files:
            created += import_audit(machine=key["machine"], text=body.decode("latin-1"),
                                    source="device").created
        print(f"audits-service: day {day + 1}/{len(per_day)}, {created:,} imported, "
              f"{time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)
    seconds = time.monotonic() - t0
    return {"created": created, "files": count, "seconds": round(seconds, 3),
            "files_per_s": round(created / seconds, 1),
            "process_cpu": round((time.process_time() - cpu0) / seconds, 2)}


def server_env() -> dict:
    return {**os.environ, "DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL,
            "CHANNEL_LAYER_PREFIX": "bench-sales", "DEBUG": "0", "LOG_LEVEL": "WARNING",
            "SECRET_KEY": "bench-secret-key-not-for-production-0123456789",
            "ALLOWED_HOSTS": "127.0.0.1,localhost", "DJANGO_SETTINGS_MODULE": "vendhub.settings",
            "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


# -- load -------------------------------------------------------------------------------------


async def post_all(url: str, work: list[list[tuple]], *, concurrency: int, content_type: str,
                   label: str, deadline: float) -> dict:
    """POST every (key, body) of `work`: one list per worker, each sent in order."""
    import aiohttp

    stats = {"requests": 0, "accepted": 0, "duplicates": 0, "created": 0, "errors": 0}
    statuses: dict[str, int] = {}
    latencies: list[float] = []
    total = sum(len(w) for w in work)
    step = max(1, total // 10)
    t0 = time.monotonic()

    async def worker(session, items) -> None:
        for key, body in items:
            if time.monotonic() > deadline:
                return
            headers = {"Authorization": f"Device {key['key']}", "Content-Type": content_type}
            r0 = time.monotonic()
            async with session.post(url, data=body, headers=headers) as response:
                payload = await response.read()
                code = response.status
            latencies.append(time.monotonic() - r0)
            stats["requests"] += 1
            statuses[str(code)] = statuses.get(str(code), 0) + 1
            if code in (200, 201):
                answer = json.loads(payload)
                stats["accepted"] += answer.get("accepted", 0)
                stats["duplicates"] += answer.get("duplicates", 0)
                stats["created"] += code == 201
            else:
                stats["errors"] += 1
                if stats["errors"] <= 3:
                    print(f"{label}: {code} {payload[:300]!r}", flush=True)
            if stats["requests"] % step == 0:
                elapsed = time.monotonic() - t0
                print(f"{label}: {stats['requests']}/{total} requests, {elapsed:.1f} s",
                      flush=True)

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=120)) as session:
        await asyncio.gather(*(worker(session, items) for items in work))
    elapsed = time.monotonic() - t0
    latencies.sort()
    return {**stats, "statuses": statuses, "seconds": round(elapsed, 3),
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1) if latencies else None,
            "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1)
            if latencies else None,
            "complete": stats["requests"] == total}


def process_cpu(pid: int) -> float:
    """CPU seconds of a process and its live children (uvicorn's workers) from /proc/<pid>/stat,
    threads that ended included: Django runs each request's view in a thread of its own under
    ASGI, which bench.procs.cpu_seconds (the live threads' schedstat) would miss."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children: set[int] = set()
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as f:
            children.update(int(child) for child in f.read().split())
    return total + sum(process_cpu(child) for child in children)


def measure(server_pid: int, run) -> dict:
    """`run()` (a coroutine factory) with the server's, PostgreSQL's, this process's and the
    machine's other CPU around it."""
    from bench.machine import MachineMeter
    from bench.procs import service_cpu

    cpu_seconds = process_cpu
    server0, db0, own0 = cpu_seconds(server_pid), service_cpu("postgres"), time.process_time()
    machine = MachineMeter().start()
    wall0 = time.monotonic()
    result = asyncio.run(run())
    wall = time.monotonic() - wall0
    load = machine.stop()
    return {**result,
            "server_cpu": round((cpu_seconds(server_pid) - server0) / wall, 2),
            "db_cpu": round((service_cpu("postgres") - db0) / wall, 2),
            "client_cpu": round((time.process_time() - own0) / wall, 2),
            "foreign_cpu": round(load.foreign, 2), "foreign_top": load.top}


def measure_service(count: int) -> dict:
    """The import service phase (`import_service` in a child process), with PostgreSQL's and
    the machine's other CPU around it."""
    from bench.machine import MachineMeter
    from bench.procs import service_cpu

    print(f"audits-service: the same {count:,} files through sales.audits.import_audit",
          flush=True)
    db0, machine = service_cpu("postgres"), MachineMeter().start()
    done = subprocess.run([sys.executable, "-m", "bench.sales_ingest", "--import-only",
                           "--audits", str(count)], cwd=ROOT, env=server_env(),
                          stdout=subprocess.PIPE, text=True, timeout=PHASE_TIMEOUT_S)
    load = machine.stop()
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"audits-service: {result['created']:,} imported in {result['seconds']} s", flush=True)
    return {**result, "db_cpu": round((service_cpu("postgres") - db0) / result["seconds"], 2),
            "foreign_cpu": round(load.foreign, 2), "foreign_top": load.top}


def spread(items: list, workers: int) -> list[list]:
    return [items[w::workers] for w in range(workers)]


def run_phases(url: str, server_pid: int, seeded: dict, args) -> dict:
    rng = random.Random(14)
    keys = seeded["keys"]
    print(f"vends: writing {args.vends:,} vends in batches of {args.batch}", flush=True)
    batches = vend_batches(keys, args.vends, args.batch, rng)
    warm = vend_batches(keys[:2], 2 * args.batch, args.batch, random.Random(1), tag="warm-")
    asyncio.run(post_all(f"{url}/api/v1/sales/", [warm], concurrency=1,
                         content_type="application/json", label="warm-up",
                         deadline=time.monotonic() + 60))
    results = {}
    for label in ("vends", "vends-replay"):
        print(f"{label}: {len(batches)} requests, {args.concurrency} at a time", flush=True)
        deadline = time.monotonic() + PHASE_TIMEOUT_S
        r = measure(server_pid, lambda d=deadline, lb=label: post_all(
            f"{url}/api/v1/sales/", spread(batches, args.concurrency),
            concurrency=args.concurrency, content_type="application/json", label=lb,
            deadline=d))
        counted = r["accepted"] if label == "vends" else r["duplicates"]
        r["vends_per_s"] = round(counted / r["seconds"], 1)
        results[label] = r
        print(f"{label}: {counted:,} in {r['seconds']} s = {r['vends_per_s']:,}/s", flush=True)
    print(f"audits: writing {args.audits:,} DEX files", flush=True)
    t0 = time.monotonic()
    per_day = audit_files(keys, args.audits, seeded["time_zone"], random.Random(AUDIT_SEED))
    written_s = time.monotonic() - t0
    # One machine's audits stay in day order (each closes the period after the one before);
    # the workers share the machines, so `audit_concurrency` machines upload at once.
    workers: list[list] = [[] for _ in range(args.audit_concurrency)]
    for files in per_day:
        for m, item in enumerate(files):
            workers[m % args.audit_concurrency].append(item)
    size = sum(len(body) for files in per_day for _, body in files)
    print(f"audits: {args.audits:,} files ({size / 1e6:.1f} MB) written in {written_s:.1f} s; "
          f"posting, {args.audit_concurrency} at a time", flush=True)
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    r = measure(server_pid, lambda: post_all(
        f"{url}/api/v1/audits/", workers, concurrency=args.audit_concurrency,
        content_type="text/plain", label="audits", deadline=deadline))
    r.update(files=args.audits, bytes=size, files_per_s=round(r["created"] / r["seconds"], 1))
    results["audits"] = r
    print(f"audits: {r['created']:,} imported in {r['seconds']} s", flush=True)
    return results


def write(result: dict) -> None:
    """The latest run of each server configuration (one process, N workers): one JSON line
    each in the .jsonl, one section each in the .md."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "sales-ingest-latest.jsonl"
    runs = {r.get("workers", 1): r for r in map(json.loads, path.read_text().splitlines())
            } if path.exists() else {}
    runs[result["workers"]] = result
    path.write_text("".join(json.dumps(runs[w]) + "\n" for w in sorted(runs)))
    (RESULTS / "sales-ingest-latest.md").write_text("\n\n".join(
        section(runs[w]) for w in sorted(runs)))


def section(result: dict) -> str:
    v, rp, a = result["vends"], result["vends-replay"], result["audits"]
    workers = ("one uvicorn process" if result["workers"] == 1
               else f"uvicorn with {result['workers']} worker processes")

    def status(ok: bool) -> str:
        return "met" if ok else "**not met**"

    def busy(r: dict) -> str:
        return f"{r['foreign_cpu']} cores" if r["foreign_cpu"] > 0.3 else "no"

    rows = [
        (f"vend ingest ≥ 5,000 vends/s (batches of {result['batch']})",
         f"{v['vends_per_s']:,}/s", status(v["vends_per_s"] >= GOALS["vends_per_s"]
                                           and v["complete"]), busy(v)),
        ("the same batches again (all duplicates)", f"{rp['vends_per_s']:,}/s", "—", busy(rp)),
        (f"DEX import of {a['files']:,} audit files < 60 s (HTTP)", f"{a['seconds']} s",
         status(a["seconds"] < GOALS["audit_import_s"] and a["created"] == a["files"]),
         busy(a)),
    ]
    service = result.get("audits-service")
    if service:
        rows.append((f"DEX import of {service['files']:,} audit files < 60 s (the import "
                     "service, one process)", f"{service['seconds']} s",
                     status(service["seconds"] < GOALS["audit_import_s"]
                            and service["created"] == service["files"]), busy(service)))
    detail = ("| phase | requests | statuses | p50 | p99 | server CPU | PostgreSQL CPU "
              "| client CPU |\n|---|---|---|---|---|---|---|---|\n")
    for name, r in (("vends", v), ("vends replay", rp), ("audits", a)):
        detail += (f"| {name} | {r['requests']:,} in {r['seconds']} s | {r['statuses']} | "
                   f"{r['p50_ms']} ms | {r['p99_ms']} ms | {r['server_cpu']} | {r['db_cpu']} | "
                   f"{r['client_cpu']} |\n")
    return (
        f"## {workers.capitalize()}\n\n"
        f"Sales ingest ({result['started']}, git `{result['git']}`, {result['machines']} machines, "
        f"{workers} as README's production command, DEBUG off, PostgreSQL + Redis "
        f"on the same 2-core machine shared with other work). Vends: {result['vends_total']:,} "
        f"in batches of {result['batch']}, {result['concurrency']} requests in flight. "
        f"Audits: {a['files']:,} DEX files (one a day per machine: a month of the fleet, "
        f"{a['bytes'] / 1e6:.1f} MB), `POST /api/v1/audits/`, {result['audit_concurrency']} "
        f"machines at a time, each machine's in day order.\n\n"
        "| goal | measured | status | machine busy |\n|---|---|---|---|\n"
        + "".join(f"| {a_} | {b} | {c} | {d} |\n" for a_, b, c, d in rows)
        + "\nCPU in cores (1.0 = one core busy for the whole phase; PostgreSQL's includes the "
        "backends other databases' clients opened and closed meanwhile).\n\n" + detail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # The seeding child (Django set up, in the server's environment) prints its JSON.
    parser.add_argument("--seed-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--import-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--machines", type=int, default=300)
    parser.add_argument("--vends", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--audits", type=int, default=10_000)
    parser.add_argument("--audit-concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1,
                        help="server processes (uvicorn --workers; README: Several processes)")
    args = parser.parse_args()
    if args.seed_only:
        print(json.dumps(seed(args.machines)))
        return
    if args.import_only:
        print(json.dumps(import_service(args.audits)))
        return

    sys.path.insert(0, str(ROOT))
    from bench.fixtures import ensure_database
    from bench.machine import OWN_DATABASES
    from bench.procs import free_port
    from bench.serving import git_head, serving

    OWN_DATABASES.add(DATABASE_URL.rsplit("/", 1)[-1])
    ensure_database(DATABASE_URL)
    print("seed: migrate and fleet", flush=True)
    seeding = subprocess.run(
        [sys.executable, "-m", "bench.sales_ingest", "--seed-only", "--machines",
         str(args.machines)], cwd=ROOT, env=server_env(), capture_output=True, text=True,
        timeout=PHASE_TIMEOUT_S)
    if seeding.returncode:
        sys.exit(f"seed failed:\n{seeding.stderr[-3000:]}")
    seeded = json.loads(seeding.stdout.strip().splitlines()[-1])
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # README "Serving": the production command, with uvicorn's stock websocket protocol
    # ("works too"): this measures HTTP only.
    argv = [sys.executable, "-m", "uvicorn", "vendhub.asgi:application", "--host", "127.0.0.1",
            "--port", str(port), "--ws", "websockets-sansio",
            "--ws-per-message-deflate", "false", "--ws-max-size", "1048576",
            "--no-server-header", "--no-date-header", "--no-access-log", "--log-level", "warning",
            *(["--workers", str(args.workers)] if args.workers > 1 else [])]
    with serving(argv, env=server_env(), log_name="sales-ingest-server.log",
                 probe=f"{url}/api/v1/schema/") as server:
        started = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        phases = run_phases(url, server.pid, seeded, args)
    phases["audits-service"] = measure_service(args.audits)
    git = git_head()
    result = {"started": started, "git": git, "machines": args.machines,
              "vends_total": args.vends, "batch": args.batch, "concurrency": args.concurrency,
              "workers": args.workers,
              "audit_concurrency": args.audit_concurrency, **phases}
    write(result)
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, dict)}, indent=2))
    for name in ("vends", "vends-replay", "audits"):
        print(name, {k: phases[name][k] for k in ("seconds", "requests", "statuses",
                                                  "server_cpu", "db_cpu", "client_cpu")})


if __name__ == "__main__":
    main()
