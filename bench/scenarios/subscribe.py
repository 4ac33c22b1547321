"""Subscribing, the cost a reload of many monitor pages puts on a server:

* `subscribe`: N dashboards already connected ask for one `machine:{id}` room at the same
  moment; the time until the last `subscribed` ack (the project authorizes each request
  against the viewer's organizations and sends the machine's telemetry after the ack);
* `connect+subscribe`: M clients open a websocket, connect with their JWT and subscribe to a
  machine room (the machines of the bench fleet in turn), `inflight` at a time; the time
  until the last one is subscribed.

The references subscribe without authentication and send no snapshot: what the protocol
alone costs them."""

from __future__ import annotations

from ..context import Context, Procs, swarm_proc
from ..machine import MachineMeter, wait_quiet
from ..procs import CpuMeter
from ..targets import all_targets, node_available
from .fanout import FOREIGN_LIMIT


def _targets(ctx: Context) -> list[str]:
    names = ["project-uvicorn", "ref-socketio"]
    if node_available():
        names.append("ref-node-socketio")
    return ctx.targets(names)


async def run(ctx: Context) -> None:
    for name in _targets(ctx):
        target = all_targets(ctx.run_id)[name]
        print(f"subscribe: {name}", flush=True)
        try:
            await one_room(ctx, target, ctx.p["subscribe_clients"])
            await connect_and_subscribe(ctx, target, ctx.p["connect_subscribe_clients"])
        except Exception as exc:
            ctx.record("subscribe-summary", target=name, error=f"{type(exc).__name__}: {exc}")


def _measured(ctx: Context, kind: str, target, result: dict, meter, machine, **extra) -> None:
    wall, (server_cpu, swarm_cpu) = meter.stop()
    load = machine.stop()
    ctx.record(
        "subscribe",
        kind=kind,
        target=target.name,
        **extra,
        **result,
        server_cpu=round(server_cpu / wall, 3),
        swarm_cpu=round(swarm_cpu / wall, 3),
        foreign_cpu=round(load.foreign, 3),
        foreign_top=load.top,
        contended=load.foreign > FOREIGN_LIMIT,
    )


async def one_room(ctx: Context, target, n: int) -> None:
    room = f"machine:{ctx.data['machines'][0]}"
    async with Procs() as procs:
        server = await procs.start(target.server_proc(ctx, tag="-sub"))
        plan = ctx.plan(target, n, rooms=lambda i, user: [], name="subscribe")
        swarm = await procs.start(swarm_proc(f"{target.name}-sub", target, server, plan))
        connected = await swarm.ask({"cmd": "connect", "inflight": 200, "timeout": 60},
                                    timeout=180)
        window, patience = ctx.p["quiet"]
        await wait_quiet(window=window, patience=patience)
        meter = CpuMeter([server.pid, swarm.pid]).start()
        machine = MachineMeter().start()
        result = await swarm.ask({"cmd": "subscribe", "room": room, "timeout": 60}, timeout=120)
        _measured(ctx, "one machine room", target, result, meter, machine,
                  clients=connected["connected"])


async def connect_and_subscribe(ctx: Context, target, n: int) -> None:
    machines = ctx.data["machines"]
    async with Procs() as procs:
        server = await procs.start(target.server_proc(ctx, tag="-consub"))
        plan = ctx.plan(target, n, rooms=lambda i, user: [f"machine:{machines[i % len(machines)]}"],
                        name="consub")
        swarm = await procs.start(swarm_proc(f"{target.name}-consub", target, server, plan))
        window, patience = ctx.p["quiet"]
        await wait_quiet(window=window, patience=patience)
        meter = CpuMeter([server.pid, swarm.pid]).start()
        machine = MachineMeter().start()
        budget = ctx.p["storm_budget"]
        result = await swarm.ask(
            {"cmd": "connect", "inflight": 1000, "timeout": budget, "budget": budget},
            timeout=budget + 120)
        _measured(ctx, "connect+subscribe", target, result, meter, machine, clients=n)
