"""End to end: a device POSTs one reading per request to /api/v1/telemetry/ (validated,
stored, judged, committed), and its `machine:telemetry` reaches 1,000 dashboards subscribed
to that machine's room, through Redis, on the same server process.

Latency is from the reading's `timestamp` (the device's wall clock when it sent it) to the
probe's wall clock when the event arrived. Open loop: the rate doubles from `e2e_start_rate`
until a step fails (a reading refused or lost, or p99 above 500 ms), the knee is the best
good step, and one more step runs at half the knee: the figure the goal reads."""

from __future__ import annotations

import asyncio

import orjson

from ..context import Context, Procs, swarm_proc
from ..machine import MachineMeter, wait_quiet
from ..procs import PYTHON, CpuMeter, Proc
from ..targets import all_targets
from .fanout import FOREIGN_LIMIT

PROBES = 8


async def run(ctx: Context) -> None:
    keys = ctx.data.get("device_keys") or []
    if not keys:
        ctx.record("e2e-summary", error="no device keys")
        return
    key = keys[0]
    target = all_targets(ctx.run_id)["project-uvicorn"]
    keys_file = ctx.workdir / "e2e-key.json"
    keys_file.write_bytes(orjson.dumps([key]))
    n = ctx.p["e2e_clients"]
    plan = ctx.plan(target, n, rooms=lambda i, user: [f"machine:{key['machine']}"], name="e2e")
    print(f"e2e: project-uvicorn ({n} subscribers)", flush=True)
    async with Procs() as procs:
        server = await procs.start(target.server_proc(ctx, tag="-e2e"))
        probes = await procs.start(swarm_proc("e2e-probes", target, server, plan,
                                              probes=PROBES, count=PROBES, wall_latency=True))
        sinks = await procs.start(swarm_proc("e2e-sinks", target, server, plan, offset=PROBES))
        for swarm in (probes, sinks):
            connected = await swarm.ask({"cmd": "connect", "inflight": 200, "timeout": 60},
                                        timeout=180)
            if connected["failed"]:
                raise RuntimeError(f"subscribers failed to connect: {connected['errors']}")
        device = await procs.start(Proc(
            "e2e-device",
            [PYTHON, "-m", "bench.clients.ingest", "--port", str(server.port),
             "--keys", str(keys_file)],
            control=True))
        await device.ask({"cmd": "paced", "rate": 5, "duration": 1.0}, timeout=60)
        rate, knee = ctx.p["e2e_start_rate"], None
        for _ in range(ctx.p["e2e_max_steps"]):
            row = await step(ctx, server, probes, sinks, device, rate, n, kind="ladder")
            if not good(row):
                break
            knee = rate
            rate *= 2
        if knee is None:
            ctx.record("e2e-summary", error=f"no good step (the first, at {rate}/s, failed)")
            return
        await step(ctx, server, probes, sinks, device, knee / 2, n, kind="half-knee")
        ctx.record("e2e-summary", target="project-uvicorn", knee_rate=knee)


def good(row: dict) -> bool:
    return (row["accepted"] == row["readings"] and not row.get("missing")
            and (row.get("lat_p99_ms") or 1e9) < 500)


async def step(ctx, server, probes, sinks, device, rate: float, subscribers: int,
               kind: str) -> dict:
    window, patience = ctx.p["quiet"]
    await wait_quiet(window=window, patience=patience)
    await asyncio.sleep(0.5)  # the warm-up's last events are in
    await probes.ask({"cmd": "reset"})
    meter = CpuMeter([server.pid, probes.pid, sinks.pid, device.pid]).start()
    machine = MachineMeter().start()
    sent = await device.ask({"cmd": "paced", "rate": rate, "duration": ctx.p["e2e_seconds"]},
                            timeout=ctx.p["e2e_seconds"] * 4 + 60)
    await asyncio.sleep(1.0)  # the last readings' events on their way
    wall, (server_cpu, *_rest) = meter.stop()
    load = machine.stop()
    snap = await probes.ask({"cmd": "snap", "published": sent["sent"]})
    accepted = sent["statuses"].get("201", 0) + sent["statuses"].get("200", 0)
    return ctx.record(
        "e2e",
        target="project-uvicorn",
        kind=kind,
        subscribers=subscribers,
        rate=rate,
        readings=sent["sent"],
        accepted=accepted,
        http_statuses=sent["statuses"],
        http_p50_ms=sent["http_p50_ms"],
        http_p99_ms=sent["http_p99_ms"],
        events_per_probe=round(snap.get("frames", 0) / PROBES, 1),
        missing=snap.get("missing"),
        lat_p50_ms=snap.get("lat_p50_ms"),
        lat_p99_ms=snap.get("lat_p99_ms"),
        lat_max_ms=snap.get("lat_max_ms"),
        server_cpu=round(server_cpu / wall, 3),
        foreign_cpu=round(load.foreign, 3),
        foreign_top=load.top,
        contended=load.foreign > FOREIGN_LIMIT,
    )
