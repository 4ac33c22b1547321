"""python -m bench run --quick|--full [--scenario NAME ...] [--target NAME ...] [--profile]

Starts what it needs on 127.0.0.1 (the bench database and fixtures, servers, reference
servers, load generators), runs the scenarios, stops everything it started, and writes
bench/results/<mode>-latest.jsonl and .md (and appends to history.jsonl).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from urllib.parse import urlsplit

import orjson

from . import machine
from .context import MODES, RESULTS, TIME_BUDGET, Context, git_sha
from .procs import PYTHON, ROOT, Proc, raise_nofile
from .report import environment, write_reports

SCENARIOS = ["fanout", "idle", "ingest", "storm", "subscribe", "e2e", "rooms"]
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/vendhub_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/13"
#: a scenario still running after this many seconds is cancelled (its processes stopped)
SCENARIO_CAP = {"quick": 150, "full": 420}


async def prepare(
    ctx: Context, users: int, machines: int, device_keys: int, room_counts: list[int]
) -> None:
    out = ctx.workdir / "fixtures.json"
    proc = Proc(
        "fixtures",
        [
            PYTHON,
            "-m",
            "bench.fixtures",
            "--users",
            str(users),
            "--machines",
            str(machines),
            "--device-keys",
            str(device_keys),
            "--room-counts",
            ",".join(map(str, room_counts)),
            "--out",
            str(out),
        ],
        env={**ctx.publisher_env(), "DATABASE_URL": ctx.database_url},
    )
    await proc.start()
    code = await asyncio.wait_for(proc.process.wait(), 300)
    if code != 0:
        raise SystemExit(f"fixtures failed:\n{proc.log_tail()}")
    ctx.data = orjson.loads(out.read_bytes())


def clean_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        for key in client.scan_iter(match="bench-*", count=1000):
            client.delete(key)
        for key in client.scan_iter(match="asgi*", count=1000):  # channels_redis defaults
            client.delete(key)
    finally:
        client.close()


async def main(args) -> int:
    mode = "full" if args.full else "quick"
    scenarios = args.scenario or SCENARIOS
    ctx = Context(
        mode=mode,
        run_id=time.strftime("%Y%m%d-%H%M%S"),
        database_url=args.database_url,
        redis_url=args.redis_url,
        server_loop=args.server_loop,
        profile=args.profile,
    )
    ctx.project_env = dict(kv.split("=", 1) for kv in args.server_env or ())
    ctx.partial = bool(args.scenario or args.target)
    if args.target:
        ctx.only_targets = set(args.target)
    os.environ["BENCH_QUIET_PATIENCE"] = str(MODES[mode]["quiet"][1])
    machine.OWN_DATABASES.add(urlsplit(ctx.database_url).path.lstrip("/"))
    started = time.monotonic()
    print(f"bench {mode}: {', '.join(scenarios)} (run {ctx.run_id})", flush=True)
    clean_redis(ctx.redis_url)
    p = MODES[mode]
    users = max(p["fanout_clients"], p["idle_clients"], p["storm_clients"])
    await prepare(
        ctx,
        users=users,
        machines=100,
        device_keys=50,
        room_counts=p["rooms_counts"] if "rooms" in scenarios else [],
    )
    ctx.timings["fixtures"] = round(time.monotonic() - started, 1)
    print(f"fixtures ready in {ctx.timings['fixtures']}s", flush=True)
    from importlib import import_module

    from . import scenarios as pkg  # noqa: F401

    for name in scenarios:
        module = import_module(f"bench.scenarios.{name}")
        t0 = time.monotonic()
        try:
            await asyncio.wait_for(module.run(ctx), SCENARIO_CAP[mode])
        except TimeoutError:
            ctx.record(f"{name}-summary", error=f"stopped after {SCENARIO_CAP[mode]} s")
        except Exception as exc:
            ctx.record(f"{name}-summary", error=f"{type(exc).__name__}: {exc}"[:2000])
        ctx.timings[name] = round(time.monotonic() - t0, 1)
        print(f"{name}: {ctx.timings[name]}s", flush=True)
    clean_redis(ctx.redis_url)
    elapsed = time.monotonic() - started
    env = environment(ctx, elapsed)
    paths = write_reports(ctx, env, scenarios)
    print(f"done in {elapsed:.0f}s (budget {TIME_BUDGET[mode]}s): {', '.join(map(str, paths))}")
    return 0


def cli() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    sub = parser.add_subparsers(dest="command", required=True)
    again = sub.add_parser("report", help="write the Markdown of a results file again")
    again.add_argument("jsonl", help="e.g. bench/results/quick-latest.jsonl")
    run = sub.add_parser("run", help="run scenarios")
    speed = run.add_mutually_exclusive_group()
    speed.add_argument("--quick", action="store_true", help="under 4 minutes (default)")
    speed.add_argument("--full", action="store_true", help="under 15 minutes")
    run.add_argument("--scenario", action="append", choices=SCENARIOS)
    run.add_argument("--target", action="append", help="only these targets (fanout/idle)")
    run.add_argument(
        "--profile", action="store_true", help="py-spy profile of the project server during fan-out"
    )
    run.add_argument(
        "--server-loop",
        default="asyncio",
        choices=["asyncio", "uvloop"],
        help="event loop of the servers under uvicorn/websockets (generators "
        "always use uvloop when installed)",
    )
    run.add_argument(
        "--server-env",
        action="append",
        metavar="KEY=VALUE",
        help="extra environment of the project's servers, e.g. DB_CONN_MAX_AGE=60",
    )
    run.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    run.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS))
    args = parser.parse_args()
    if args.command == "report":
        from pathlib import Path

        from .report import rerender

        print(rerender(Path(args.jsonl).resolve()))
        return 0
    os.chdir(ROOT)
    raise_nofile()
    RESULTS.mkdir(parents=True, exist_ok=True)
    return asyncio.run(main(args))


if __name__ == "__main__":
    sys.exit(cli())

__all__ = ["git_sha"]
