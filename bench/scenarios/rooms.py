"""Publish cost against the number of rooms: one socket whose viewer belongs to R
organizations is in R `map:{org}` rooms (one `machines:all` subscription); the publisher
cycles through those rooms at a fixed rate. Server CPU per publish for R small vs large.

One short step's CPU figure varies by about ±10 % (a few hundred publishes against the
server's background work: timers, the channel layer's blocking pops, a garbage collection),
as much as the effect to measure; each room count runs `rooms_repeats` steps on the same
server and reports the median."""

from __future__ import annotations

import functools
import statistics

import orjson

from ..context import Context, Procs, publisher_proc, swarm_proc
from ..targets import all_targets
from . import profiling
from .fanout import step


async def run(ctx: Context) -> None:
    target = all_targets(ctx.run_id)["project-uvicorn"]
    rows = {}
    for count in ctx.p["rooms_counts"]:
        viewer = ctx.data.get("rooms", {}).get(str(count))
        if viewer is None:
            ctx.record("rooms-summary", error=f"no fixture for {count} rooms")
            return
        print(f"rooms: project-uvicorn with {count} rooms", flush=True)
        async with Procs() as procs:
            server = await procs.start(target.server_proc(ctx, tag=f"-rooms{count}"))
            plan = ctx.workdir / f"rooms-plan-{count}.json"
            plan.write_bytes(orjson.dumps([{"token": viewer["token"], "rooms": ["machines:all"]}]))
            probe = await procs.start(
                swarm_proc(f"rooms{count}-probe", target, server, plan, probes=1)
            )
            sink = await procs.start(
                swarm_proc(f"rooms{count}-sink", target, server, plan, count=0)
            )
            joined = await probe.ask({"cmd": "connect", "inflight": 1, "timeout": 180}, timeout=240)
            if joined["connected"] != 1:
                raise RuntimeError(f"rooms probe did not connect: {joined}")
            await sink.ask({"cmd": "connect", "inflight": 1, "timeout": 10})
            rooms_file = ctx.workdir / f"rooms-{count}.json"
            rooms_file.write_bytes(orjson.dumps([f"map:{org}" for org in viewer["orgs"]]))
            proc = publisher_proc(ctx, target, server)
            proc.argv += ["--rooms-file", str(rooms_file)]
            publisher = await procs.start(proc)
            await publisher.ask({"cmd": "warm"})
            # One publisher -> one subscriber step at the rooms rate, for `seconds`.
            run_step = functools.partial(step, ctx, target, server, publisher, sink, probe,
                                         ctx.p["rooms_rate"])
            steps = [
                await run_step(ctx.p["rooms_seconds"], 1, kind=f"rooms-{count}")
                for _ in range(ctx.p.get("rooms_repeats", 1))
            ]
            per_publish = [s["server_us_per_frame"] for s in steps if s["server_us_per_frame"]]
            if ctx.profile:
                ctx.record(
                    "profile",
                    target=target.name,
                    label=f"rooms-{count}",
                    profile=await profiling.profile_step(
                        ctx, target, server,
                        functools.partial(run_step, 6.0, 1, kind="profiled"),
                        label=f"rooms-{count}",
                    ),
                )
            # one frame per publish here
            us = round(statistics.median(per_publish), 3) if per_publish else None
            rows[count] = ctx.record(
                "rooms",
                target=target.name,
                rooms=count,
                rate=ctx.p["rooms_rate"],
                server_us_per_publish=us,
                steps_us_per_publish=per_publish,
                delivered=sum(s["delivered"] for s in steps),
                expected=sum(s["expected"] for s in steps),
                lat_p50_ms=steps[-1]["lat_p50_ms"],
                lat_p99_ms=steps[-1]["lat_p99_ms"],
                join_seconds=joined["seconds"],
                valid=all(s["valid"] for s in steps),
                contended=any(s["contended"] for s in steps),
            )
    small, large = min(rows), max(rows)
    a, b = rows[small]["server_us_per_publish"], rows[large]["server_us_per_publish"]
    ctx.record(
        "rooms-summary",
        rooms_small=small,
        rooms_large=large,
        cost_ratio=round(b / a, 3) if a and b else None,
    )
