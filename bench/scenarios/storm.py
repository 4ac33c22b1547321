"""Reconnect storm: N dashboards connected (handshake, auth, `machines:all` + user + org
rooms) drop at once and reconnect, authenticate and rejoin together. Counts client-side
failures and server-side errors (MaxConnectionsError, ChannelFull, tracebacks)."""

from __future__ import annotations

import re

from ..context import Context, Procs, swarm_proc
from ..machine import MachineMeter, wait_quiet
from ..procs import CpuMeter
from ..targets import all_targets
from . import profiling
from .fanout import FOREIGN_LIMIT, GENERATOR_LIMIT

#: a log record at ERROR or above (`2026-01-01 12:00:00,123 ERROR ...`), or an uncaught
#: traceback printed on its own; a record's traceback is part of the record, not another error
RECORD = re.compile(r"^\d{4}-\d\d-\d\d[ T][\d:,.]+ (?P<level>[A-Z]+)\b", re.M)
EXCEPTION = re.compile(r"\b(?P<name>[A-Z]\w*(?:Error|Exception|Full|Disconnected))\b")


def server_errors(log: str) -> tuple[int, dict[str, int]]:
    """How many errors the server logged, and how many of each exception (or message) kind."""
    count = 0
    kinds: dict[str, int] = {}
    records = list(RECORD.finditer(log))
    bounds = [m.start() for m in records] + [len(log)]
    blocks = [(m.group("level"), log[m.start() : bounds[i + 1]]) for i, m in enumerate(records)]
    head = log[: bounds[0]]
    if "Traceback" in head:
        blocks.insert(0, ("ERROR", head))
    for level, text in blocks:
        if level not in ("ERROR", "CRITICAL"):
            continue
        count += 1
        names = [m.group("name") for m in EXCEPTION.finditer(text)]
        kind = names[-1] if names else text.splitlines()[0][24:100].strip()
        kinds[kind] = kinds.get(kind, 0) + 1
    return count, kinds


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
        # Bounded: the first connection phase stops starting connections after `budget`
        # seconds, and the storm gives up on the clients not back within `budget`.
        budget = ctx.p["storm_budget"]
        first = await swarm.ask(
            {"cmd": "connect", "inflight": 200, "timeout": 60, "budget": budget},
            timeout=budget + 120,
        )
        if first["connected"] == 0:
            raise RuntimeError(f"nothing connected: {first}")
        window, patience = ctx.p["quiet"]
        await wait_quiet(window=window, patience=patience)
        log_before = len(server.log_tail(10**9))
        meter = CpuMeter([server.pid, swarm.pid]).start()
        machine = MachineMeter().start()
        storm_command = {"cmd": "storm", "inflight": 1000, "timeout": budget, "budget": budget}
        result = await swarm.ask(storm_command, timeout=budget + 120)
        wall, (server_cpu, swarm_cpu) = meter.stop()
        load = machine.stop()
        foreign = load.foreign
        new_log = server.log_tail(10**9)[log_before:]
        errors, kinds = server_errors(new_log)
        invalid = []
        if swarm_cpu / wall > GENERATOR_LIMIT:
            invalid.append(f"storm client at {swarm_cpu / wall:.0%} of a core")
        ctx.record(
            "storm",
            target=target.name,
            clients=first["connected"],
            seconds=result["seconds"],
            reconnected=result["connected"],
            failed=result["failed"],
            not_started=result.get("skipped", 0),
            client_errors=result["errors"],
            server_errors=errors,
            server_error_kinds=kinds,
            first_connect_seconds=first["seconds"],
            connect_p50_ms=result["connect_p50_ms"],
            connect_p99_ms=result["connect_p99_ms"],
            server_cpu=round(server_cpu / wall, 3),
            server_ms_per_reconnect=round(server_cpu * 1000 / max(1, result["connected"]), 2),
            swarm_cpu=round(swarm_cpu / wall, 3),
            foreign_cpu=round(foreign, 3),
            foreign_top=load.top,
            contended=foreign > FOREIGN_LIMIT,
            valid=not invalid,
            invalid_reason="; ".join(invalid),
        )
        if ctx.profile and target.kind == "project":
            # Once more, under py-spy: the measured storm above ran without it.
            ctx.record(
                "profile",
                target=target.name,
                label="storm",
                profile=await profiling.profile_step(
                    ctx, target, server,
                    lambda: swarm.ask(storm_command, timeout=budget + 120),
                    label="storm",
                    gil=True,
                ),
            )
