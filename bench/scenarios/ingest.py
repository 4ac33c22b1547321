"""Telemetry ingest end to end: devices POST readings to the product (validate, persist,
rules, broadcast after commit), in batches and one reading per request (the naive path:
one request, one transaction per reading), plus PostgreSQL-only references."""

from __future__ import annotations

import asyncio
import time

import orjson

from ..context import Context, Procs
from ..machine import MachineMeter, wait_quiet
from ..procs import PYTHON, CpuMeter, Proc, service_cpu
from ..targets import all_targets
from . import profiling
from .fanout import FOREIGN_LIMIT, GENERATOR_LIMIT


async def measure(
    ctx, server, client, *, path: str, batch: int, concurrency: int, seconds: float
) -> dict:
    window, patience = ctx.p["quiet"]
    await wait_quiet(window=window, patience=patience)
    meter = CpuMeter([server.pid, client.pid]).start()
    machine = MachineMeter().start()
    db0 = service_cpu("postgres")
    result = await client.ask(
        {"cmd": "run", "batch": batch, "concurrency": concurrency, "duration": seconds},
        timeout=seconds * 3 + 60,
    )
    wall, (server_cpu, client_cpu) = meter.stop()
    db_cpu = service_cpu("postgres") - db0
    load = machine.stop()
    foreign = load.foreign
    accepted = result["accepted"]
    invalid = []
    if client_cpu / wall > GENERATOR_LIMIT:
        invalid.append(f"ingest client at {client_cpu / wall:.0%} of a core")
    return ctx.record(
        "ingest",
        target="project-uvicorn",
        path=path,
        batch=batch,
        concurrency=concurrency,
        readings_per_s=result["readings_per_s"],
        requests_per_s=result["requests_per_s"],
        accepted=accepted,
        duplicates=result["duplicates"],
        errors=result["errors"],
        statuses=result["statuses"],
        p50_ms=result["p50_ms"],
        p99_ms=result["p99_ms"],
        server_cpu=round(server_cpu / wall, 3),
        db_cpu=round(db_cpu / wall, 3),
        client_cpu=round(client_cpu / wall, 3),
        foreign_cpu=round(foreign, 3),
        foreign_top=load.top,
        contended=foreign > FOREIGN_LIMIT,
        server_us_per_reading=round(server_cpu * 1e6 / accepted, 1) if accepted else None,
        db_us_per_reading=round(db_cpu * 1e6 / accepted, 1) if accepted else None,
        valid=not invalid,
        invalid_reason="; ".join(invalid),
        seconds=round(wall, 2),
    )


async def run(ctx: Context) -> None:
    p = ctx.p
    keys = ctx.data.get("device_keys") or []
    if not keys:
        ctx.record("ingest-summary", error="no device keys (telemetry.device_keys missing?)")
        return
    target = all_targets(ctx.run_id)["project-uvicorn"]
    keys_file = ctx.workdir / "device-keys.json"
    keys_file.write_bytes(orjson.dumps(keys))
    print("ingest: project-uvicorn", flush=True)
    async with Procs() as procs:
        server = await procs.start(target.server_proc(ctx, tag="-ingest"))
        client = await procs.start(
            Proc(
                "ingest-client",
                [
                    PYTHON,
                    "-m",
                    "bench.clients.ingest",
                    "--port",
                    str(server.port),
                    "--keys",
                    str(keys_file),
                ],
                control=True,
            )
        )
        warm = await client.ask({"cmd": "run", "batch": 10, "concurrency": 2, "duration": 1.0})
        if not warm["accepted"]:
            ctx.record(
                "ingest-summary",
                error=f"warm-up accepted nothing: {warm}",
                log=server.log_tail(1500),
            )
            return
        conc = p["ingest_concurrency"]
        batched = await measure(
            ctx,
            server,
            client,
            path="HTTP batches",
            batch=p["ingest_batch"],
            concurrency=conc,
            seconds=p["ingest_seconds"],
        )
        if ctx.profile:
            for label, batch in (("ingest-batched", p["ingest_batch"]), ("ingest-naive", 1)):
                ctx.record(
                    "profile",
                    target=target.name,
                    label=label,
                    profile=await profiling.profile_step(
                        ctx,
                        target,
                        server,
                        lambda b=batch: measure(
                            ctx,
                            server,
                            client,
                            path="profiled",
                            batch=b,
                            concurrency=conc,
                            seconds=6.0,
                        ),
                        label=label,
                    ),
                )
        naive = await measure(
            ctx,
            server,
            client,
            path="HTTP, one reading per request",
            batch=1,
            concurrency=conc,
            seconds=p["ingest_seconds"],
        )
    ratio = (
        round(batched["readings_per_s"] / naive["readings_per_s"], 1)
        if naive["readings_per_s"]
        else None
    )
    pg = await postgres_reference(ctx, max(1.0, p["ingest_seconds"] / 2))
    ctx.record(
        "ingest-summary",
        batched_rps=batched["readings_per_s"],
        naive_rps=naive["readings_per_s"],
        ratio_to_naive=ratio,
        postgres=pg,
        contended=batched["contended"] or naive["contended"],
    )


async def postgres_reference(ctx: Context, seconds: float) -> dict:
    proc = Proc(
        "pg-ingest-ref",
        [
            PYTHON,
            "-m",
            "bench.refs.pg_ingest",
            "--url",
            ctx.database_url,
            "--seconds",
            str(seconds),
        ],
    )
    window, patience = ctx.p["quiet"]
    await wait_quiet(window=window, patience=patience)
    t0 = time.monotonic()
    machine = MachineMeter().start()
    await proc.start()
    try:
        await asyncio.wait_for(proc.process.wait(), seconds * 3 * 2 + 60)
    except TimeoutError:
        await proc.stop()
        return {"error": "timeout"}
    load = machine.stop()
    lines = [ln for ln in proc.log_tail(4000).splitlines() if ln.startswith("{")]
    if not lines:
        return {"error": proc.log_tail(500)}
    results = orjson.loads(lines[-1])
    for name, rate in results.items():
        ctx.record(
            "ingest",
            target="postgres-only (psycopg 3)",
            path=name,
            readings_per_s=rate,
            valid=True,
            foreign_cpu=round(load.foreign, 3),
            foreign_top=load.top,
            contended=load.foreign > FOREIGN_LIMIT,
            seconds=round(time.monotonic() - t0, 1),
        )
    return results
