"""Reconnect storm: N dashboards connected (handshake, auth, `machines:all` + user + org
rooms) drop at once and reconnect, authenticate and rejoin together. Counts client-side
failures and server-side errors (MaxConnectionsError, ChannelFull, tracebacks)."""

from __future__ import annotations

import re

from ..context import Context, Procs, swarm_proc
from ..procs import CpuMeter, MachineMeter, wait_quiet
from ..targets import all_targets
from .fanout import FOREIGN_LIMIT

SERVER_ERRORS = re.compile(r"MaxConnectionsError|ChannelFull|Traceback|ERROR")


async def run(ctx: Context) -> None:
    n = ctx.p["storm_clients"]
    for name in ctx.targets(["project-uvicorn", "ref-socketio"]):
        target = all_targets(ctx.run_id)[name]
        print(f"storm: {name} ({n} clients)", flush=True)
        try:
            await storm(ctx, target, n)
        except Exception as exc:
            ctx.record("storm-summary", target=name, error=f"{type(exc).__name__}: {exc}")


async def storm(ctx: Context, target, n: int) -> None:
    async with Procs() as procs:
        server = await procs.start(target.server_proc(ctx, tag="-storm"))
        swarm = await procs.start(
            swarm_proc(f"{target.name}-storm", target, server, ctx.plan(target, n, name="storm"))
        )
        first = await swarm.ask({"cmd": "connect", "inflight": 200, "timeout": 60}, timeout=400)
        if first["connected"] == 0:
            raise RuntimeError(f"nothing connected: {first}")
        await wait_quiet()
        log_before = len(server.log_tail(10**9))
        meter = CpuMeter([server.pid, swarm.pid]).start()
        machine = MachineMeter().start()
        result = await swarm.ask({"cmd": "storm", "inflight": 1000, "timeout": 60}, timeout=400)
        wall, (server_cpu, swarm_cpu) = meter.stop()
        foreign = machine.stop()
        new_log = server.log_tail(10**9)[log_before:]
        errors = SERVER_ERRORS.findall(new_log)
        ctx.record(
            "storm",
            target=target.name,
            clients=first["connected"],
            seconds=result["seconds"],
            reconnected=result["connected"],
            failed=result["failed"],
            client_errors=result["errors"],
            server_errors=len(errors),
            server_error_kinds=sorted(set(errors)),
            first_connect_seconds=first["seconds"],
            connect_p50_ms=result["connect_p50_ms"],
            connect_p99_ms=result["connect_p99_ms"],
            server_cpu=round(server_cpu / wall, 3),
            server_ms_per_reconnect=round(server_cpu * 1000 / max(1, result["connected"]), 2),
            swarm_cpu=round(swarm_cpu / wall, 3),
            foreign_cpu=round(foreign, 3),
            contended=foreign > FOREIGN_LIMIT,
        )
