"""Fan-out: 1 publisher → N subscribers in one room (`machines:all`), open loop.

For each target: connect the probes, then the sinks (idle RSS and CPU are measured on the
way), then climb a ladder of publish rates (×2 until a step fails, then bisect). A step is
good when every frame arrived (byte count), throughput kept up with the offered rate and
no client was dropped. The knee is the best good step. Finally one longer step at half the
knee gives p50/p99 latency. A step whose load generator saturated its core, or whose
publisher fell behind schedule, is recorded as invalid and never counted as a result.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import orjson

from ..context import RESULTS, Context, Procs, publisher_proc, swarm_proc
from ..machine import MachineMeter, wait_quiet
from ..procs import CpuMeter, rss_bytes
from ..targets import all_targets
from . import profiling

GENERATOR_LIMIT = 0.90  # of one core
PROBE_LIMIT = 0.90
#: cores used by other jobs on the machine during a step above which it is "machine busy"
FOREIGN_LIMIT = 0.30
#: a step whose probes saw a p99 above this is past the knee (queueing, not delivering):
#: the highest rate a dashboard still sees as live, the goal the Node comparison uses
P99_LIMIT_MS = 100


async def _bytes(*swarms) -> tuple[int, list[dict]]:
    snaps = [await s.ask({"cmd": "snap"}) for s in swarms]
    return sum(s["bytes"] for s in snaps), snaps


async def connect_swarms(
    ctx: Context,
    procs: Procs,
    target,
    server,
    n: int,
    nprobes: int,
    *,
    tag: str,
    budget: float | None = None,
) -> tuple:
    """Probes, then sinks (no sink connection starts after `budget` seconds); returns the
    two swarms and the idle figures of the connection phase (RSS per connection, CPU)."""
    plan = ctx.plan(target, n)
    probe = await procs.start(
        swarm_proc(
            f"{target.name}{tag}-probes", target, server, plan, probes=nprobes, count=nprobes
        )
    )
    reply = await probe.ask({"cmd": "connect", "inflight": 8, "timeout": 30}, timeout=60)
    if reply.get("connected") != nprobes:
        raise RuntimeError(f"probes did not connect: {reply}\n{server.log_tail()}")
    await asyncio.sleep(0.3)
    rss_a = rss_bytes(server.pid)
    sink = await procs.start(
        swarm_proc(f"{target.name}{tag}-sinks", target, server, plan, offset=nprobes)
    )
    meter = CpuMeter([server.pid]).start()
    connect = await sink.ask(
        {"cmd": "connect", "inflight": target.connect_inflight, "timeout": 60, "budget": budget},
        timeout=(budget or 240) + 120,
    )
    wall, (server_cpu,) = meter.stop()
    await asyncio.sleep(0.5)
    rss_b = rss_bytes(server.pid)
    sinks = connect["connected"]
    idle = {
        "connections": sinks + nprobes,
        "connect_seconds": connect["seconds"],
        "connect_failed": connect["failed"],
        "connect_not_started": connect.get("skipped", 0),
        "connect_errors": connect["errors"],
        "connect_p99_ms": connect["connect_p99_ms"],
        "server_cpu_ms_per_connect": round(server_cpu * 1000 / max(1, sinks), 3),
        "connects_per_s": round(sinks / max(wall, 1e-6), 1),
        "rss_before_mb": round(rss_a / 2**20, 2),
        "rss_after_mb": round(rss_b / 2**20, 2),
        "rss_per_conn_kb": round((rss_b - rss_a) / max(1, sinks) / 1024, 2),
    }
    return probe, sink, idle


async def measure_idle_cpu(server, seconds: float) -> float:
    meter = CpuMeter([server.pid]).start()
    await asyncio.sleep(seconds)
    wall, (cpu,) = meter.stop()
    return cpu / wall


async def step(
    ctx: Context,
    target,
    server,
    publisher,
    sink,
    probe,
    rate: float,
    duration: float,
    nconns: int,
    kind: str = "ladder",
) -> dict:
    window, patience = ctx.p["quiet"]
    await wait_quiet(window=window, patience=patience)
    await probe.ask({"cmd": "reset"})
    b0, snaps0 = await _bytes(sink, probe)
    # Subscribers still connected now (a reference may have dropped some in an earlier
    # step); only the connections lost during this step count against it.
    nconns = sum(x["open"] for x in snaps0) or nconns
    lost0 = sum(x["lost_after_ready"] for x in snaps0)
    meter = CpuMeter([server.pid, sink.pid, probe.pid, publisher.pid]).start()
    machine = MachineMeter().start()
    t0 = time.monotonic()
    pub_task = asyncio.create_task(
        publisher.ask({"cmd": "run", "rate": rate, "duration": duration}, timeout=duration * 4 + 30)
    )
    # Drain: wait until bytes stop growing (after the publisher is done), bounded.
    last_bytes, last_growth = b0, t0
    deadline_after_pub = None
    while True:
        await asyncio.sleep(0.05)
        now = time.monotonic()
        total, snaps = await _bytes(sink, probe)
        if total > last_bytes:
            last_bytes, last_growth = total, now
        if pub_task.done():
            if deadline_after_pub is None:
                pub_done = now
                deadline_after_pub = now + ctx.p["drain_max"]
            # quiet since the last byte *and* since the last publish (at a low rate the
            # previous frame may be long ago while the last one is still on its way)
            if now - max(last_growth, pub_done) > ctx.p["drain_quiet"]:
                break
            if now > deadline_after_pub:
                break
        elif now - t0 > duration * 4 + 30:
            break
    pub = await pub_task
    wall, (server_cpu, sink_cpu, probe_cpu, pub_cpu) = meter.stop()
    load = machine.stop()
    foreign = load.foreign
    last_rx = max(s.get("last_rx", 0.0) for s in snaps)
    active = max(min(last_rx, last_growth) - pub["t0"], 1e-6)
    probe_snap = await probe.ask({"cmd": "snap", "published": pub["sent"]})
    sink_snap = snaps[0]
    frame_len = probe_snap.get("frame_len") or 0
    delivered = round((last_bytes - b0) / frame_len) if frame_len else 0
    expected = pub["sent"] * nconns
    throughput = delivered / active
    offered = rate * nconns
    gen_load = sink_cpu / active
    invalid = []
    if gen_load > GENERATOR_LIMIT:
        invalid.append(f"sink generator at {gen_load:.0%} of a core")
    if probe_cpu / active > PROBE_LIMIT:
        invalid.append("probe process saturated")
    # Open loop: a send that starts a few ms late (the publisher waits for a core the
    # server and the sinks keep busy) is caught up at once; the step is invalid only when
    # the publisher could not hold the rate, or saturated its own core.
    if pub["rate"] < 0.95 * rate:
        invalid.append(f"publisher held {pub['rate']:.1f} of {rate}/s")
    if pub_cpu / active > GENERATOR_LIMIT:
        invalid.append(f"publisher at {pub_cpu / active:.0%} of a core")
    if not frame_len:
        invalid.append("probes received nothing")
    contended = foreign > FOREIGN_LIMIT
    lost_conns = sink_snap["lost_after_ready"] + probe_snap["lost_after_ready"] - lost0
    ok = (
        not invalid
        and delivered >= expected * 0.9995
        and throughput >= 0.95 * offered
        and lost_conns == 0
        and (probe_snap.get("lat_p99_ms") or 1e9) < P99_LIMIT_MS
    )
    return ctx.record(
        "fanout",
        target=target.name,
        round=getattr(ctx, "current_round", 1),
        kind=kind,
        rate=rate,
        offered_fps=round(offered),
        sent=pub["sent"],
        publish_rate=pub["rate"],
        subscribers=nconns,
        delivered_fps=round(throughput),
        delivered=delivered,
        expected=expected,
        lost=max(0, expected - delivered),
        probe_missing=probe_snap.get("missing"),
        out_of_order=probe_snap.get("out_of_order"),
        lat_p50_ms=probe_snap.get("lat_p50_ms"),
        lat_p99_ms=probe_snap.get("lat_p99_ms"),
        lat_max_ms=probe_snap.get("lat_max_ms"),
        frame_bytes=frame_len,
        server_cpu=round(server_cpu / active, 3),
        server_us_per_frame=round(server_cpu * 1e6 / delivered, 3) if delivered else None,
        sink_cpu=round(gen_load, 3),
        foreign_cpu=round(foreign, 3),
        foreign_top=load.top,
        kernel_cpu=round(load.kernel, 3),
        publisher_cpu=round(pub_cpu / active, 3),
        publisher_late_ratio=pub["late_ratio"],
        publisher_lag_max_ms=pub["lag_max_ms"],
        conns_dropped=lost_conns,
        ok=ok,
        valid=not invalid,
        contended=contended,
        invalid_reason="; ".join(invalid),
        seconds=round(active, 3),
    )


def prior_knee(ctx: Context, name: str, runs: int = 3) -> float | None:
    """The median publish rate at the knee of `name` over the latest earlier runs that
    found one (one run on a busy machine does not send the next ladder far off)."""
    path = RESULTS / "history.jsonl"
    if not path.exists():
        return None
    knees = []
    with open(path, "rb") as f:
        for line in f:
            if b'"fanout-summary"' not in line or name.encode() not in line:
                continue
            row = orjson.loads(line)
            if row.get("target") == name and row.get("knee_rate") and row["run_id"] != ctx.run_id:
                knees.append(row["knee_rate"])
    return statistics.median(knees[-runs:]) if knees else None


async def ladder(ctx: Context, target, run_step) -> tuple[dict | None, dict | None]:
    """Climb publish rates until a step fails, then bisect; returns (knee step, failed step).
    Starts at the earlier knee when there is one (a few steps instead of a whole climb)."""
    p = ctx.p
    prior = prior_knee(ctx, target.name)
    up, down = (p["prior_growth"], p["prior_growth"] ** 2) if prior else (2.0, 2.0)
    rate = prior or target.start_rate
    good, bad, bisects, steps, retries = None, None, 0, 0, p["busy_retries"]
    while steps < p["max_steps"]:
        row = await run_step(rate)
        steps += 1
        if row["valid"] and not row["ok"] and row["contended"] and retries:
            retries -= 1  # failed while other jobs used the machine: once more, same rate
            row = await run_step(rate)
        if not row["valid"] or row["conns_dropped"] > 0.1 * row["subscribers"]:
            bad = row if row["valid"] else bad
            break
        if row["ok"]:
            good = row if good is None or row["delivered_fps"] > good["delivered_fps"] else good
        else:
            bad = row if bad is None or row["rate"] < bad["rate"] else bad
        if bad is None:
            rate = round(rate * up, 2)
            up = min(2.0, up * up)  # an old knee far below today's: climb faster
        elif good is None:
            rate = round(rate / down, 2)
            if rate < 0.5:
                break
        elif bisects < p["bisect"] and bad["rate"] / good["rate"] > 1.15:
            bisects += 1
            rate = round((good["rate"] + bad["rate"]) / 2, 2)
        else:
            break
    return good, bad


async def run_target(ctx: Context, target, round_no: int) -> None:
    p = ctx.p
    n, nprobes = p["fanout_clients"], p["fanout_probes"]
    tag = f"-r{round_no}"
    print(f"fanout: {target.name} round {round_no}", flush=True)
    async with Procs() as procs:
        server = await procs.start(target.server_proc(ctx, tag=tag))
        ctx.current_round = round_no
        probe, sink, idle = await connect_swarms(ctx, procs, target, server, n, nprobes, tag=tag)
        # The publisher starts (and imports its stack) while the idle server is measured.
        publisher = publisher_proc(ctx, target, server)
        starting = asyncio.create_task(procs.start(publisher))
        seconds = p.get("setup_idle_seconds", p["idle_seconds"])
        idle["server_cpu_idle"] = round(await measure_idle_cpu(server, seconds), 4)
        await starting
        ctx.record("idle", target=target.name, source="fanout-setup", round=round_no, **idle)
        nconns = idle["connections"]
        await publisher.ask({"cmd": "warm"}, timeout=60)

        def run_step(rate, seconds=p["step_seconds"], kind="ladder"):
            return step(ctx, target, server, publisher, sink, probe, rate, seconds, nconns, kind)

        await run_step(2.0, 0.5, "warmup")
        good, bad = await ladder(ctx, target, run_step)
        best = max(
            (
                r
                for r in ctx.records
                if r["scenario"] == "fanout"
                and r.get("valid")
                and r["kind"] == "ladder"
                and r["target"] == target.name
                and r["run_id"] == ctx.run_id
                and r.get("round") == round_no
            ),
            key=lambda r: r["delivered_fps"],
            default=None,
        )
        summary = {
            "target": target.name,
            "kind_of": target.kind,
            "round": round_no,
            "knee_rate": good["rate"] if good else None,
            "knee_fps": good["delivered_fps"] if good else None,
            "max_fps": best["delivered_fps"] if best else None,
            "knee_server_us_per_frame": good["server_us_per_frame"] if good else None,
            "knee_server_cpu": good["server_cpu"] if good else None,
            "knee_foreign_cpu": good["foreign_cpu"] if good else None,
            # "machine busy": the figures reported (knee, half knee) were measured while
            # other jobs used the machine; the max step alone does not count.
            "contended": bool(good and good["contended"]),
            "failed_step": _why_failed(bad),
        }
        if good is not None:
            half = await run_step(good["rate"] / 2, p["half_knee_seconds"], "half-knee")
            summary.update(
                {
                    "half_knee_p50_ms": half["lat_p50_ms"],
                    "half_knee_p99_ms": half["lat_p99_ms"],
                    "half_knee_lost": half["lost"],
                    "half_knee_valid": half["valid"],
                    "half_knee_contended": half["contended"],
                    "half_knee_foreign_cpu": half["foreign_cpu"],
                    "half_knee_us_per_frame": half["server_us_per_frame"],
                }
            )
            if ctx.profile and target.kind == "project":
                summary["profile"] = await profiling.profile_step(
                    ctx,
                    target,
                    server,
                    lambda: run_step(good["rate"] * 0.8, max(p["step_seconds"], 5.0), "profiled"),
                )
        ctx.record("fanout-summary", **summary)


def _why_failed(row: dict | None) -> str | None:
    """Why the step above the knee failed, in a few words."""
    if row is None:
        return None
    why = []
    if row["conns_dropped"]:
        why.append(f"{row['conns_dropped']} connections dropped")
    if row["lost"]:
        why.append(f"{row['lost']} frames lost")
    if row["delivered_fps"] < 0.95 * row["offered_fps"]:
        why.append(f"delivered {row['delivered_fps']} of {row['offered_fps']} frames/s")
    if (row.get("lat_p99_ms") or 0) >= P99_LIMIT_MS:
        why.append(f"p99 {row['lat_p99_ms']:.0f} ms")
    if row.get("invalid_reason"):
        why.append(row["invalid_reason"])
    return f"at {row['rate']}/s: " + ", ".join(why or ["?"])


async def run(ctx: Context) -> None:
    targets = all_targets(ctx.run_id)
    names = ctx.targets(ctx.p["fanout_targets"])
    for round_no in range(1, ctx.p["rounds"] + 1):
        order = names if round_no % 2 else list(reversed(names))
        for name in order:
            try:
                await run_target(ctx, targets[name], round_no)
            except Exception as exc:
                ctx.record(
                    "fanout-summary",
                    target=name,
                    round=round_no,
                    error=f"{type(exc).__name__}: {exc}"[:2000],
                )
