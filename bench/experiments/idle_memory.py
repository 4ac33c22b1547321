"""What one idle Socket.IO connection costs the project server: RSS per connection, idle CPU
and, with `--tracemalloc`, the top Python allocation sites of the connections.

Connects N clients exactly as the fan-out scenario does (handshake, `machines:all`, user and
org rooms), without the publish ladder, so an idle-memory change can be checked in seconds.
Run it under the benchmark lock like any benchmark:

    flock /tmp/vendhub-bench.lock .venv/bin/python -m bench.experiments.idle_memory -n 1000
    flock /tmp/vendhub-bench.lock .venv/bin/python -m bench.experiments.idle_memory --tracemalloc
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time
import tracemalloc
from dataclasses import replace

from bench.__main__ import DEFAULT_DB, DEFAULT_REDIS, clean_redis, prepare
from bench.context import Context, Procs
from bench.procs import raise_nofile
from bench.scenarios.fanout import connect_swarms, measure_idle_cpu
from bench.scenarios.profiling import py_spy
from bench.targets import all_targets

TRACEMALLOC_APP = "bench.experiments.tracemalloc_deep:application"


def print_breakdown(before: str, after: str, top: int) -> None:
    """What was allocated between two snapshots, by call site (innermost frames first)."""
    stats = tracemalloc.Snapshot.load(after).compare_to(tracemalloc.Snapshot.load(before),
                                                        "traceback")
    print(f"== total {sum(s.size_diff for s in stats) / 1024:.0f} KiB")
    for stat in stats[:top]:
        print(f"{stat.size_diff / 1024:10.1f} KiB {stat.count_diff:8d}")
        for line in stat.traceback.format(limit=6, most_recent_first=True):
            print(f"      {line}")


async def main(args) -> None:
    ctx = Context(mode="quick", run_id=time.strftime("%Y%m%d-%H%M%S"),
                  database_url=DEFAULT_DB, redis_url=DEFAULT_REDIS, server_loop="asyncio")
    clean_redis(ctx.redis_url)
    await prepare(ctx, users=args.n, machines=100, device_keys=50, room_counts=[])
    target = all_targets(ctx.run_id)[args.target]
    out = f"/tmp/idle-memory-{os.getpid()}"
    if args.tracemalloc:
        target = replace(target, app=TRACEMALLOC_APP,
                         env={**target.env, "BENCH_TRACEMALLOC_OUT": out})
    async with Procs() as procs:
        server = await procs.start(target.server_proc(ctx, tag="-idlemem"))
        if args.tracemalloc:
            await asyncio.sleep(1.0)
            os.kill(server.pid, signal.SIGUSR1)  # baseline snapshot
        _, _, idle = await connect_swarms(ctx, procs, target, server, args.n, 8, tag="-idlemem")
        spy = None
        if args.profile:  # what an idle server spends its CPU on (pings, timers, GC...)
            spy = await asyncio.create_subprocess_exec(
                py_spy(), "record", "--pid", str(server.pid), "--rate", "200", "--nonblocking",
                "--format", "raw", "--gil", "--duration", str(int(args.idle_seconds)),
                "--output", args.profile)
        idle["server_cpu_idle"] = round(await measure_idle_cpu(server, args.idle_seconds), 4)
        if spy is not None:
            await asyncio.wait_for(spy.wait(), 30)
        for key in ("connections", "connect_failed", "rss_before_mb", "rss_after_mb",
                    "rss_per_conn_kb", "server_cpu_ms_per_connect", "server_cpu_idle"):
            print(f"{key:28} {idle[key]}")
        if args.tracemalloc:
            os.kill(server.pid, signal.SIGUSR1)
            for _ in range(120):  # a snapshot takes a while
                await asyncio.sleep(1.0)
                if os.path.exists(out + ".1"):
                    break
            print_breakdown(out + ".0", out + ".1", args.top)
    clean_redis(ctx.redis_url)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--target", default="project-uvicorn")
    parser.add_argument("--idle-seconds", type=float, default=4.0)
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--profile", metavar="PATH", help="py-spy collapsed stacks of the idle "
                        "window (GIL holder only) to PATH")
    raise_nofile()
    asyncio.run(main(parser.parse_args()))
