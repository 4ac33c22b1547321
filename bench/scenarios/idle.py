"""Idle connections: N clients with the Socket.IO handshake done and joined to the live map,
their user room and their org room; server RSS per connection and idle CPU (pings
included when the window is longer than the ping interval)."""

from __future__ import annotations

from ..context import Context, Procs
from ..targets import all_targets
from .fanout import connect_swarms, measure_idle_cpu


async def run(ctx: Context) -> None:
    n = ctx.p["idle_clients"]
    names = ctx.targets(ctx.p["idle_targets"])
    if not n or not names:
        print("idle: quick mode measures idle figures during the fan-out setup", flush=True)
        return
    targets = all_targets(ctx.run_id)
    for name in names:
        target = targets[name]
        print(f"idle: {name} ({n} connections)", flush=True)
        try:
            async with Procs() as procs:
                server = await procs.start(target.server_proc(ctx, tag="-idle"))
                _, _, idle = await connect_swarms(
                    ctx, procs, target, server, n, 1, tag="-idle", budget=ctx.p["idle_budget"]
                )
                idle["server_cpu_idle"] = round(
                    await measure_idle_cpu(server, ctx.p["idle_seconds"]), 4
                )
                ctx.record("idle", target=name, source="idle", **idle)
        except Exception as exc:
            ctx.record("idle-summary", target=name, error=f"{type(exc).__name__}: {exc}")
