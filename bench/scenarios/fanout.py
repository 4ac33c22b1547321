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
import time

from ..context import Context, Procs, publisher_proc, swarm_proc
from ..procs import CpuMeter, MachineMeter, rss_bytes, wait_quiet
from ..targets import all_targets
from . import profiling

GENERATOR_LIMIT = 0.90  # of one core
PROBE_LIMIT = 0.90
FOREIGN_LIMIT = 0.30
#: a step whose probes saw a p99 above this is past the knee (queueing, not delivering)
P99_LIMIT_MS = 500  # cores used by other jobs on the machine during a step


async def _bytes(*swarms) -> tuple[int, list[dict]]:
    snaps = [await s.ask({"cmd": "snap"}) for s in swarms]
    return sum(s["bytes"] for s in snaps), snaps


async def connect_swarms(
    ctx: Context, procs: Procs, target, server, n: int, nprobes: int, *, tag: str
) -> tuple:
    plan = ctx.plan(target, n)
    probe = await procs.start(
        swarm_proc(
            f"{target.name}{tag}-probes", target, server, plan, probes=nprobes, count=nprobes
        )
    )
    reply = await probe.ask({"cmd": "connect", "inflight": 8, "timeout": 30}, timeout=60)
    if reply.get("connected") != nprobes:
        raise RuntimeError(f"probes did not connect: {reply}\n{server.log_tail()}")
    await asyncio.sleep(0.5)
    rss_a = rss_bytes(server.pid)
    sink = await procs.start(
        swarm_proc(f"{target.name}{tag}-sinks", target, server, plan, offset=nprobes)
    )
    meter = CpuMeter([server.pid]).start()
    connect = await sink.ask(
        {"cmd": "connect", "inflight": target.connect_inflight, "timeout": 60}, timeout=300
    )
    wall, (server_cpu,) = meter.stop()
    await asyncio.sleep(1.0)
    rss_b = rss_bytes(server.pid)
    sinks = connect["connected"]
    idle = {
        "connections": sinks + nprobes,
        "connect_seconds": connect["seconds"],
        "connect_failed": connect["failed"],
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
    await wait_quiet()
    await probe.ask({"cmd": "reset"})
    b0, _ = await _bytes(sink, probe)
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
                deadline_after_pub = now + ctx.p["drain_max"]
            if now - last_growth > 0.5 or now > deadline_after_pub:
                break
        elif now - t0 > duration * 4 + 30:
            break
    pub = await pub_task
    wall, (server_cpu, sink_cpu, probe_cpu, pub_cpu) = meter.stop()
    foreign = machine.stop()
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
    if pub["late_ratio"] > 0.10:
        invalid.append(f"publisher late on {pub['late_ratio']:.0%} of sends")
    if not frame_len:
        invalid.append("probes received nothing")
    contended = foreign > FOREIGN_LIMIT
    lost_conns = sink_snap["lost_after_ready"] + probe_snap["lost_after_ready"]
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
        publisher_cpu=round(pub_cpu / active, 3),
        conns_dropped=lost_conns,
        ok=ok,
        valid=not invalid,
        contended=contended,
        invalid_reason="; ".join(invalid),
        seconds=round(active, 3),
    )


async def run_target(ctx: Context, target, round_no: int) -> None:
    p = ctx.p
    n, nprobes = p["fanout_clients"], p["fanout_probes"]
    tag = f"-r{round_no}"
    print(f"fanout: {target.name} round {round_no}", flush=True)
    async with Procs() as procs:
        server = await procs.start(target.server_proc(ctx, tag=tag))
        ctx.current_round = round_no
        probe, sink, idle = await connect_swarms(ctx, procs, target, server, n, nprobes, tag=tag)
        idle["server_cpu_idle"] = round(await measure_idle_cpu(server, p["idle_seconds"]), 4)
        ctx.record("idle", target=target.name, source="fanout-setup", round=round_no, **idle)
        nconns = idle["connections"]
        publisher = await procs.start(publisher_proc(ctx, target, server))
        await publisher.ask({"cmd": "warm"}, timeout=60)
        await step(ctx, target, server, publisher, sink, probe, 2.0, 0.5, nconns, kind="warmup")

        rate, good, bad, bisects, steps = target.start_rate, None, None, 0, 0
        while steps < p["max_steps"]:
            row = await step(
                ctx, target, server, publisher, sink, probe, rate, p["step_seconds"], nconns
            )
            steps += 1
            if row["conns_dropped"]:
                bad = row
                break
            if not row["valid"]:
                break
            if row["ok"]:
                good = row if good is None or row["delivered_fps"] > good["delivered_fps"] else good
            else:
                bad = row if bad is None or row["rate"] < bad["rate"] else bad
            if bad is None:
                rate *= 2
            elif good is None:
                rate /= 2
                if rate < 0.5:
                    break
            elif bisects < p["bisect"] and bad["rate"] / good["rate"] > 1.15:
                bisects += 1
                rate = round((good["rate"] + bad["rate"]) / 2, 1)
            else:
                break
        best = max(
            (
                r
                for r in ctx.records
                if r["scenario"] == "fanout"
                and r.get("valid")
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
            "contended": bool(good and good["contended"]) or bool(best and best["contended"]),
        }
        if good is not None and not (bad and bad["conns_dropped"]):
            half = await step(
                ctx,
                target,
                server,
                publisher,
                sink,
                probe,
                good["rate"] / 2,
                p["half_knee_seconds"],
                nconns,
                kind="half-knee",
            )
            summary.update(
                {
                    "half_knee_p50_ms": half["lat_p50_ms"],
                    "half_knee_p99_ms": half["lat_p99_ms"],
                    "half_knee_lost": half["lost"],
                    "half_knee_valid": half["valid"],
                    "half_knee_contended": half["contended"],
                    "half_knee_us_per_frame": half["server_us_per_frame"],
                }
            )
            if ctx.profile and target.kind == "project":
                summary["profile"] = await profiling.profile_step(
                    ctx,
                    target,
                    server,
                    lambda: step(
                        ctx,
                        target,
                        server,
                        publisher,
                        sink,
                        probe,
                        good["rate"] * 0.8,
                        max(p["step_seconds"], 5.0),
                        nconns,
                        kind="profiled",
                    ),
                )
        ctx.record("fanout-summary", **summary)


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
