"""Publish cost against the number of rooms: one socket whose viewer belongs to R
organizations is in R `map:{org}` rooms (one `machines:all` subscription). The publisher
cycles at a fixed rate through the rooms of the smallest R, the same rooms on every server
(the large viewer's organizations begin with the small one's), so that the servers differ
only in how many rooms they hold, not in how often a room is published to. Server CPU per
publish for R small vs large.

One short step's CPU figure varies by about ±10 % (a few hundred publishes against the
server's background work: timers, the channel layer's blocking pops, a garbage collection),
as much as the effect to measure, and the machine drifts over a minute. So a server per
room count runs at once, their steps alternate (small, large, small, large, ...: each pair
a few seconds apart, on the same machine load), and the cost ratio is the median of the
pairs' ratios; each count's figure is the median of its steps."""

from __future__ import annotations

import functools
import os
import statistics
from dataclasses import dataclass

import orjson

from ..context import Context, Procs, publisher_proc, swarm_proc
from ..targets import all_targets
from . import profiling
from .fanout import step

#: The core every rooms server runs on (the last one: the first takes more interrupts).
SERVER_CPU = max(os.sched_getaffinity(0))


@dataclass
class RoomsServer:
    """A project server whose one socket is in `count` rooms, with its publisher."""

    count: int
    server: object
    run_step: functools.partial  # (seconds, nconns, kind=...) -> step row
    join_seconds: float


async def start(ctx: Context, procs: Procs, target, count: int, viewer: dict,
                published: list[str]) -> RoomsServer:
    server = await procs.start(target.server_proc(ctx, tag=f"-rooms{count}"))
    # Every rooms server on the same core: the first-started one otherwise cost ~10 % more
    # per publish, whichever its room count (where the scheduler placed it, not the rooms).
    os.sched_setaffinity(server.pid, {SERVER_CPU})
    plan = ctx.workdir / f"rooms-plan-{count}.json"
    plan.write_bytes(orjson.dumps([{"token": viewer["token"], "rooms": ["machines:all"]}]))
    probe = await procs.start(swarm_proc(f"rooms{count}-probe", target, server, plan, probes=1))
    sink = await procs.start(swarm_proc(f"rooms{count}-sink", target, server, plan, count=0))
    joined = await probe.ask({"cmd": "connect", "inflight": 1, "timeout": 180}, timeout=240)
    if joined["connected"] != 1:
        raise RuntimeError(f"rooms probe did not connect: {joined}")
    await sink.ask({"cmd": "connect", "inflight": 1, "timeout": 10})
    rooms_file = ctx.workdir / f"rooms-{count}.json"
    rooms_file.write_bytes(orjson.dumps([f"map:{org}" for org in published]))
    proc = publisher_proc(ctx, target, server)
    proc.argv += ["--rooms-file", str(rooms_file)]
    publisher = await procs.start(proc)
    await publisher.ask({"cmd": "warm"})
    # One publisher -> one subscriber step at the rooms rate.
    run_step = functools.partial(step, ctx, target, server, publisher, sink, probe,
                                 ctx.p["rooms_rate"])
    return RoomsServer(count, server, run_step, joined["seconds"])


async def run(ctx: Context) -> None:
    target = all_targets(ctx.run_id)["project-uvicorn"]
    counts = ctx.p["rooms_counts"]
    viewers = ctx.data.get("rooms", {})
    missing = [count for count in counts if str(count) not in viewers]
    if missing:
        ctx.record("rooms-summary", error=f"no fixture for {missing} rooms")
        return
    async with Procs() as procs:
        servers = []
        for count in counts:
            print(f"rooms: project-uvicorn with {count} rooms", flush=True)
            servers.append(await start(ctx, procs, target, count, viewers[str(count)],
                                       published=viewers[str(min(counts))]["orgs"]))
        steps: dict[int, list[dict]] = {count: [] for count in counts}
        for _round in range(ctx.p.get("rooms_repeats", 1)):
            for rooms in servers:
                steps[rooms.count].append(
                    await rooms.run_step(ctx.p["rooms_seconds"], 1, kind=f"rooms-{rooms.count}"))
        rows = {rooms.count: record(ctx, target, rooms, steps[rooms.count]) for rooms in servers}
        if ctx.profile:
            for rooms in servers:
                ctx.record(
                    "profile",
                    target=target.name,
                    label=f"rooms-{rooms.count}",
                    profile=await profiling.profile_step(
                        ctx, target, rooms.server,
                        functools.partial(rooms.run_step, 6.0, 1, kind="profiled"),
                        label=f"rooms-{rooms.count}",
                    ),
                )
    small, large = min(counts), max(counts)
    pairs = [
        b["server_us_per_frame"] / a["server_us_per_frame"]
        for a, b in zip(steps[small], steps[large], strict=True)
        if a["server_us_per_frame"] and b["server_us_per_frame"]
    ]
    a, b = rows[small]["server_us_per_publish"], rows[large]["server_us_per_publish"]
    ctx.record(
        "rooms-summary",
        rooms_small=small,
        rooms_large=large,
        cost_ratio=round(statistics.median(pairs), 3) if pairs else None,
        pair_ratios=[round(r, 3) for r in pairs],
        ratio_of_medians=round(b / a, 3) if a and b else None,
    )


def record(ctx: Context, target, rooms: RoomsServer, steps: list[dict]) -> dict:
    per_publish = [s["server_us_per_frame"] for s in steps if s["server_us_per_frame"]]
    return ctx.record(
        "rooms",
        target=target.name,
        rooms=rooms.count,
        rate=ctx.p["rooms_rate"],
        # one frame per publish here
        server_us_per_publish=round(statistics.median(per_publish), 3) if per_publish else None,
        steps_us_per_publish=per_publish,
        delivered=sum(s["delivered"] for s in steps),
        expected=sum(s["expected"] for s in steps),
        lat_p50_ms=steps[-1]["lat_p50_ms"],
        lat_p99_ms=steps[-1]["lat_p99_ms"],
        join_seconds=rooms.join_seconds,
        valid=all(s["valid"] for s in steps),
        contended=any(s["contended"] for s in steps),
    )
