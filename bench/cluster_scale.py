"""Scale-out on one machine: fan-out with 1, 2 and 3 server processes behind HAProxy, the
memory of an idle connection in each, cross-process event latency and Redis operations per
event, from the cluster `make cluster` starts (vendhub/cluster.py).

    .venv/bin/python -m bench.cluster_scale                  # 1, 2 and 3 processes
    .venv/bin/python -m bench.cluster_scale --processes 1,3 --clients 600

For each process count N: a `Cluster` (HAProxy with deploy/haproxy.cfg reduced to N `server`
lines, N uvicorn processes with README's command, Redis master + replica + 3 sentinels) on
free ports; the fan-out scenario's clients (bench/clients/swarm.py: probes and byte-counting
sinks, every websocket through HAProxy, spread round robin) and its open-loop publisher
(`realtime.broadcast.apublish` through the sentinels' master); the same ladder and the same
good-step rule as bench/scenarios/fanout.py (every frame delivered, ≥ 95 % of the offered
rate, p99 under its bound, no client dropped). Scaling efficiency = aggregate frames/s at the
knee / (N × the one-process figure of the same run).

Cross-process latency (at the largest N ≥ 2): a dashboard socket on process B subscribed to
`machine:{id}` of a few machines while their devices POST one reading at a time to process A
(bench/clients/sio_probe.py), and the same with both on A, for comparison. Redis operations
per event: `INFO commandstats` deltas on the master during a fixed number of events, less the
idle rate (sentinels, health) measured just before.

Own database (`SCALE_BENCH_DATABASE_URL`, default
postgres://postgres@127.0.0.1:5432/vendhub_bench_scale), Redis servers of its own (the
cluster's), a time limit per process count. Results: bench/results/cluster-scale-latest.
{jsonl,md} (not history.jsonl, which holds the harness's runs).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import orjson

from bench import machine
from bench.context import MODES, RESULTS, Context
from bench.procs import PYTHON, CpuMeter, Proc, Procs, free_port, raise_nofile, rss_bytes
from bench.scenarios import fanout
from bench.targets import SIO_PATH, Target

DATABASE_URL = os.environ.get("SCALE_BENCH_DATABASE_URL",
                              "postgres://postgres@127.0.0.1:5432/vendhub_bench_scale")
PREFIX = "vendhub-scalebench"
SECRET_KEY = "bench-secret-key-not-for-production-0123456789"
MODE = "cluster-scale"
#: the quick fan-out's parameters, with room for a longer ladder (no earlier knee to start at)
MODES[MODE] = {**MODES["quick"], "max_steps": 7, "bisect": 2, "half_knee_seconds": 3.0}
#: commands a process runs on a timer, not per event: every live session's recovery record
#: has its TTL refreshed once per quarter recovery window (realtime/server/sio/records.py)
PERIODIC = ("pexpire",)
REDIS_KEYS = ("REDIS_SENTINELS", "REDIS_SENTINEL_MASTER", "REDIS_URL", "CHANNEL_LAYER_PREFIX")


def app_env() -> dict[str, str]:
    """The servers as the fan-out scenario runs the project (DEBUG off, per-event map
    frames: coalescing would turn the fan-out into one frame a second)."""
    return {"DEBUG": "0", "SECRET_KEY": SECRET_KEY, "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "REALTIME_MAP_TICK_MS": "0", "LOG_LEVEL": "WARNING"}


def haproxy_config(directory: Path, processes: int) -> Path:
    """deploy/haproxy.cfg with only the first `processes` `server` lines."""
    from vendhub.cluster import HAPROXY_CONFIG

    text = HAPROXY_CONFIG.read_text()
    for index in range(processes + 1, 10):
        text = re.sub(rf"^\s*server app{index} .*\n", "", text, flags=re.M)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"haproxy-{processes}.cfg"
    path.write_text(text)
    return path


class Balancer:
    """What bench/scenarios/fanout.py's step needs of "the server": the port clients reach
    (HAProxy's) and a pid whose CPU it meters (HAProxy's, reported as `haproxy_cpu`)."""

    def __init__(self, cluster) -> None:
        self.cluster = cluster
        self.port = cluster.port
        self.pid = cluster.haproxy.pid

    def log_tail(self) -> str:
        return "\n".join(f"{s.name}: {s.log_tail(10)}" for s in self.cluster.servers)


def connections_per_server(cluster) -> dict[str, int]:
    return {row["svname"]: int(row.get("scur") or 0) for row in cluster.haproxy_stats()
            if row.get("pxname") == "asgi" and row.get("svname", "").startswith("app")}


class RedisCounter:
    """Commands the Redis master ran between `start()` and `stop()`, less the idle rate."""

    def __init__(self, cluster) -> None:
        from vendhub.cluster_redis import client

        host, port = cluster.redis.master_address()
        self.client = client(port, host)
        self.idle: dict[str, float] = {}

    def snapshot(self) -> dict[str, int]:
        return {name.removeprefix("cmdstat_"): int(stats["calls"])
                for name, stats in self.client.info("commandstats").items()}

    async def measure_idle(self, seconds: float) -> None:
        before = self.snapshot()
        await asyncio.sleep(seconds)
        # `info` itself is one call of each snapshot
        self.idle = {k: (v - before.get(k, 0) - (k == "info")) / seconds
                     for k, v in self.snapshot().items()}

    def start(self) -> RedisCounter:
        self.t0, self.before = time.monotonic(), self.snapshot()
        return self

    def stop(self, events: int) -> dict:
        seconds, after = time.monotonic() - self.t0, self.snapshot()
        calls, periodic = {}, {}
        for name, value in after.items():
            if name in PERIODIC:
                periodic[name] = value - self.before.get(name, 0)
                continue
            delta = value - self.before.get(name, 0) - (name == "info")
            delta -= self.idle.get(name, 0.0) * seconds
            if delta / max(events, 1) >= 0.05:
                calls[name] = round(delta / max(events, 1), 2)
        return {"events": events, "per_event": calls, "periodic": periodic,
                "total_per_event": round(sum(calls.values()), 2)}


async def fanout_at(ctx: Context, procs: Procs, cluster, processes: int, args) -> dict:
    target = Target(f"cluster-{processes}", "project", "uvicorn", "vendhub.asgi:application",
                    "sio", SIO_PATH, "project", args.start_rate * processes)
    balancer = Balancer(cluster)
    apps = [server.pid for server in cluster.servers]
    app_rss0, lb_rss0 = sum(map(rss_bytes, apps)), rss_bytes(balancer.pid)
    probe, sink, idle = await fanout.connect_swarms(ctx, procs, target, balancer, args.clients,
                                                    args.probes, tag="")
    await asyncio.sleep(0.5)
    conns = idle["connections"]
    memory = {
        "connections": conns, "per_server": connections_per_server(cluster),
        "app_kb_per_conn": round((sum(map(rss_bytes, apps)) - app_rss0) / conns / 1024, 2),
        "haproxy_kb_per_conn": round((rss_bytes(balancer.pid) - lb_rss0) / conns / 1024, 2),
        "connect_failed": idle["connect_failed"], "connect_seconds": idle["connect_seconds"]}
    print(f"  {processes} process(es): {conns} connections {memory['per_server']}, "
          f"{memory['app_kb_per_conn']} KB/conn in the servers, "
          f"{memory['haproxy_kb_per_conn']} KB/conn in HAProxy", flush=True)
    env = {**ctx.publisher_env(), **{k: cluster.env[k] for k in REDIS_KEYS}}
    publisher = await procs.start(Proc(
        f"cluster-{processes}-publisher",
        [PYTHON, "-m", "bench.clients.publisher", *target.publisher_args(ctx, balancer.port)],
        env=env, control=True))
    await publisher.ask({"cmd": "warm"}, timeout=60)

    retries = [1]

    async def run_step(rate, seconds=ctx.p["step_seconds"], kind="ladder"):
        while True:
            meter = CpuMeter(apps).start()
            row = await fanout.step(ctx, target, balancer, publisher, sink, probe, rate,
                                    seconds, conns, kind)
            _, cpus = meter.stop()
            # An invalid step ends the ladder; on a machine other jobs keep busy the
            # publisher often just lost its core for a moment: once more, same rate.
            if row["valid"] or not row["contended"] or not retries[0]:
                break
            retries[0] -= 1
        active = max(row["seconds"], 1e-6)
        row.update(processes=processes, haproxy_cpu=row.pop("server_cpu"),
                   haproxy_us_per_frame=row.pop("server_us_per_frame"),
                   app_cpu=[round(c / active, 3) for c in cpus],
                   app_us_per_frame=(round(sum(cpus) * 1e6 / row["delivered"], 3)
                                     if row["delivered"] else None))
        return row

    await run_step(2.0, 0.5, "warmup")
    good, bad = await fanout.ladder(ctx, target, run_step)
    result = {"processes": processes, "memory": memory, "failed_step": fanout._why_failed(bad)}
    if good is None:
        return result
    redis = RedisCounter(cluster)
    await redis.measure_idle(3.0)
    counter = redis.start()
    half = await run_step(good["rate"] / 2, ctx.p["half_knee_seconds"], "half-knee")
    result.update(
        knee_rate=good["rate"], knee_fps=good["delivered_fps"],
        knee_app_cpu=good["app_cpu"], knee_haproxy_cpu=good["haproxy_cpu"],
        knee_app_us_per_frame=good["app_us_per_frame"],
        knee_haproxy_us_per_frame=good["haproxy_us_per_frame"],
        knee_generators_cpu=round(good["sink_cpu"] + good["publisher_cpu"], 3),
        knee_kernel_cpu=good["kernel_cpu"], knee_foreign_cpu=good["foreign_cpu"],
        contended=good["contended"] or half["contended"],
        half_knee_p50_ms=half["lat_p50_ms"], half_knee_p99_ms=half["lat_p99_ms"],
        half_knee_lost=half["lost"],
        redis_per_publish=counter.stop(half["sent"]))
    return result


async def latency_at(ctx: Context, procs: Procs, cluster, args) -> list[dict]:
    """Readings POSTed to process A, their `machine:telemetry` on a socket of process B (and
    on one of A, for comparison), at a moderate fixed rate."""
    keys = ctx.data["device_keys"][:args.latency_machines]
    devices_file = ctx.workdir / "cluster-scale-devices.json"
    devices_file.write_bytes(orjson.dumps(keys))
    devices = await procs.start(Proc("cluster-scale-devices", [
        PYTHON, "-m", "bench.clients.mqtt_devices", "--port", str(cluster.port),
        "--devices", str(devices_file)], control=True))
    a, b = cluster.server_ports[0], cluster.server_ports[1]
    rows = []
    for path, socket_port in (("A → B (cross-process)", b), ("A → A (same process)", a)):
        redis = RedisCounter(cluster)
        await redis.measure_idle(3.0)
        counter, meter = redis.start(), CpuMeter([s.pid for s in cluster.servers]).start()
        reply = await devices.ask({
            "cmd": "latency", "host": "127.0.0.1", "port": socket_port, "post_port": a,
            "token": ctx.data["users"][0]["token"], "machines": [k["machine"] for k in keys],
            "rate": args.latency_rate, "seconds": args.latency_seconds, "transport": "http",
        }, timeout=args.latency_seconds + 60)
        reply["redis_per_reading"] = counter.stop(reply.get("sent", 0))
        # every server's CPU (the POST on A, the delivery on B) per reading, idle included
        reply["servers_cpu_ms_per_reading"] = round(
            sum(meter.stop()[1]) * 1000 / max(reply.get("sent", 0), 1), 2)
        rows.append(ctx.record("cluster-latency", path=path, **reply))
    return rows


async def one_count(ctx: Context, processes: int, args, latency: bool) -> dict:
    from vendhub.cluster import Cluster

    directory = RESULTS / "tmp" / f"cluster-{processes}"
    cluster = Cluster(database_url=ctx.database_url, directory=directory,
                      server_ports=[free_port() for _ in range(processes)], watchdog=False,
                      env=app_env(), haproxy_config=haproxy_config(directory, processes),
                      prefix=PREFIX)
    print(f"cluster of {processes}: starting", flush=True)
    await asyncio.to_thread(cluster.start)
    try:
        async with Procs() as procs:
            result = await fanout_at(ctx, procs, cluster, processes, args)
        if latency:
            async with Procs() as procs:
                result["latency"] = await latency_at(ctx, procs, cluster, args)
        return result
    finally:
        await asyncio.to_thread(cluster.stop)


def summarize(results: list[dict]) -> list[dict]:
    """Per process count: aggregate and per-process frames/s, scaling efficiency."""
    single = next((r.get("knee_fps") for r in results if r["processes"] == 1), None)
    for r in results:
        if r.get("knee_fps"):
            r["per_process_fps"] = round(r["knee_fps"] / r["processes"])
            if single:
                r["efficiency"] = round(r["knee_fps"] / (r["processes"] * single), 3)
    return results


def write_md(run: dict, results: list[dict]) -> str:
    out = [f"Cluster scale-out ({run['run_id']}, git `{run['git'][:12]}`, {run['seconds']} s; "
           f"{run['cpus']} cores shared by servers, HAProxy, Redis, the clients and the "
           f"publisher; {run['clients']} subscribers of `machines:all` through HAProxy).\n",
           "### Fan-out: 1 publisher → subscribers spread over N processes\n",
           "| processes | knee events/s | aggregate frames/s | per process | scaling efficiency "
           "| server µs/frame | server cores | HAProxy cores (µs/frame) | clients+publisher "
           "cores | p50 / p99 ms @½ knee | machine busy | above the knee |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if not r.get("knee_fps"):
            out.append(f"| {r['processes']} | — | no knee: {r.get('error') or r['failed_step']} "
                       "|||||||||| ")
            continue
        busy = f"yes ({r['knee_foreign_cpu']:.2f} cores)" if r["contended"] else "no"
        out.append(
            f"| {r['processes']} | {r['knee_rate']} | {r['knee_fps']:,} | "
            f"{r['per_process_fps']:,} | {r.get('efficiency', '—')} | "
            f"{r['knee_app_us_per_frame']} | {' + '.join(map(str, r['knee_app_cpu']))} | "
            f"{r['knee_haproxy_cpu']} ({r['knee_haproxy_us_per_frame']}) | "
            f"{r['knee_generators_cpu']} | {r['half_knee_p50_ms']} / {r['half_knee_p99_ms']} | "
            f"{busy} | "
            f"{r['failed_step'] or '—'} |")
    out += ["", "### Idle connections (RSS growth over the connect phase)\n",
            "| processes | connections (per process) | server KB/conn | HAProxy KB/conn |",
            "|---|---|---|---|"]
    for r in results:
        m = r.get("memory")
        if m:
            out.append(f"| {r['processes']} | {m['connections']} ({m['per_server']}) | "
                       f"{m['app_kb_per_conn']} | {m['haproxy_kb_per_conn']} |")
    lat = [row for r in results for row in r.get("latency", [])]
    if lat:
        out += ["", "### Event latency: reading POSTed → `machine:telemetry` on a socket\n",
                "| path | readings/s | sent | matched | p50 ms | p90 ms | p99 ms | max ms "
                "| servers' CPU ms per reading | Redis commands per reading |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for row in lat:
            redis = row["redis_per_reading"]
            calls = ", ".join(f"{k} {v}" for k, v in sorted(redis["per_event"].items()))
            out.append(f"| {row['path']} | {row['rate']} | {row['sent']} | {row['matched']} | "
                       f"{row['p50_ms']} | {row['p90_ms']} | {row['p99_ms']} | {row['max_ms']} "
                       f"| {row['servers_cpu_ms_per_reading']} "
                       f"| {redis['total_per_event']} ({calls}) |")
    out += ["", "### Redis commands per published fan-out event (½-knee step)\n",
            "| processes | events | per event |", "|---|---|---|"]
    for r in results:
        redis = r.get("redis_per_publish")
        if redis:
            calls = ", ".join(f"{k} {v}" for k, v in sorted(redis["per_event"].items()))
            out.append(f"| {r['processes']} | {redis['events']} | "
                       f"{redis['total_per_event']} ({calls}) |")
    return "\n".join(out) + "\n"


async def main(args) -> None:
    from bench.__main__ import prepare
    from bench.context import git_sha
    from bench.fixtures import ensure_database

    raise_nofile()
    machine.OWN_DATABASES.add(urlsplit(DATABASE_URL).path.lstrip("/"))
    ensure_database(DATABASE_URL)
    ctx = Context(mode=MODE, run_id=time.strftime("%Y%m%d-%H%M%S"), database_url=DATABASE_URL,
                  redis_url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"),
                  server_loop="uvloop")
    started = time.monotonic()
    print("fixtures (own database, migrated once)", flush=True)
    await prepare(ctx, users=args.clients, machines=100, device_keys=args.latency_machines,
                  room_counts=[])
    counts = [int(c) for c in args.processes.split(",")]
    latency_n = max((c for c in counts if c >= 2), default=None)
    results = []
    for processes in counts:
        try:
            result = await asyncio.wait_for(
                one_count(ctx, processes, args, latency=processes == latency_n),
                args.step_limit)
        except Exception as exc:  # a count that failed is reported, the others still run
            result = {"processes": processes, "error": f"{type(exc).__name__}: {exc}"[:500],
                      "failed_step": None}
        ctx.record("cluster-scale", **result)
        results.append(result)
    summarize(results)
    run = {"run_id": ctx.run_id, "git": git_sha(), "seconds": round(time.monotonic() - started),
           "cpus": os.cpu_count(), "clients": args.clients}
    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(RESULTS / "cluster-scale-latest.jsonl", "wb") as f:
        for row in [{"scenario": "cluster-scale-run", **run}, *ctx.records,
                    *({"scenario": "cluster-scale-summary", **r} for r in results)]:
            f.write(orjson.dumps(row) + b"\n")
    md = write_md(run, results)
    (RESULTS / "cluster-scale-latest.md").write_text(md)
    print(md, flush=True)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", default="1,2,3", help="process counts, e.g. 1,2,3")
    parser.add_argument("--clients", type=int, default=1000, help="subscribers (and users)")
    parser.add_argument("--probes", type=int, default=8)
    parser.add_argument("--start-rate", type=float, default=10.0,
                        help="first ladder rate of one process (× N for N processes)")
    parser.add_argument("--latency-machines", type=int, default=20)
    parser.add_argument("--latency-rate", type=float, default=20.0)
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--step-limit", type=float, default=240.0,
                        help="seconds allowed for each process count")
    args = parser.parse_args()
    asyncio.run(main(args))


if __name__ == "__main__":
    cli()
