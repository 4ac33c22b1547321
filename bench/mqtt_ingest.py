"""Devices over MQTT, measured: telemetry published by devices through a private Mosquitto
(the project's configuration, devices/broker.py) to 2 `manage.py mqtt_ingest` workers,
compared in the same run with HTTP batch ingest; thousands of devices connected at once;
device-to-dashboard latency over both transports.

    .venv/bin/python -m bench.mqtt_ingest                          # every step
    .venv/bin/python -m bench.mqtt_ingest --hold-devices 1000 --seconds 10   # a quick look

Steps, each with a time limit:
1. ingest: `--ingest-devices` devices (each its own machine and broker credentials) publish
   readings at QoS 1 as fast as the pipeline takes them: each keeps `--window` messages its
   `…/ack` has not answered (broker → worker → commit → answer). Readings committed in
   PostgreSQL are counted every second. Then HTTP batch ingest as the harness measures it
   (bench/clients/ingest.py: batches of 500, 4 requests in flight) against one uvicorn.
2. latency: a dashboard socket subscribed to `machine:{id}` of `--latency-machines`
   machines; one reading at a time at `--latency-rate` a second, over MQTT, then over HTTP;
   each timed until its `machine:telemetry` reaches the socket (bench/clients/sio_probe.py).
3. hold: `--hold-devices` devices connect at once (persistent sessions, from one asyncio
   process: bench/clients/mqtt_devices.py), publish `--hold-rate` messages a second
   together for `--hold-seconds`, the workers answering each.

Devices authenticate with their own credentials: a broker client per machine (username =
serial, password = its device key) with a role of its own topics, created by this harness
over the dynamic-security control topic in batches. It uses its own database
(`MQTT_BENCH_DATABASE_URL`, default postgres://postgres@127.0.0.1:5432/vendhub_bench_mqtt,
readings emptied at each run) and Redis (`BENCH_REDIS_URL`, default db 0) under the
`vendhub-mqttbench` prefix. Results: bench/results/mqtt-latest.{jsonl,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DATABASE_URL = os.environ.get("MQTT_BENCH_DATABASE_URL",
                              "postgres://postgres@127.0.0.1:5432/vendhub_bench_mqtt")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PREFIX = "vendhub-mqttbench"
ORG_SLUG = "bench-mqtt"
SERIAL_PREFIX = "SN-MQTT-"
MANAGER = "bench-mqtt-manager"
STEP_TIMEOUT_S = 300
#: Machines of the HTTP comparison (bench/clients/ingest.py takes one per request in flight).
HTTP_MACHINES = 4


def seed(machines: int) -> dict:
    """In a child process with Django set up: migrate; the organization, its manager and
    exactly `machines` machines; a fresh device key each; no readings left."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, transaction
    from rest_framework_simplejwt.tokens import AccessToken

    from machines.models import Machine, Membership, Organization, Role
    from telemetry.device_keys import issue_device_key
    from telemetry.models import DeviceKey

    call_command("migrate", verbosity=0, interactive=False)
    org, _ = Organization.objects.get_or_create(slug=ORG_SLUG, defaults={"name": "Bench MQTT"})
    user, _ = get_user_model().objects.get_or_create(username=MANAGER)
    Membership.objects.get_or_create(user=user, organization=org, defaults={"role": Role.MANAGER})
    fleet = Machine.objects.filter(organization=org)
    if fleet.count() != machines:
        fleet.delete()
        Machine.objects.bulk_create([
            Machine(organization=org, serial_number=f"{SERIAL_PREFIX}{i:05d}",
                    name=f"MQTT machine {i:05d}") for i in range(machines)], batch_size=2000)
    with connection.cursor() as cursor:  # the bench's own database
        cursor.execute("TRUNCATE telemetry_telemetryreading")
    DeviceKey.objects.filter(machine__organization=org).delete()
    keys = []
    with transaction.atomic():
        for n, m in enumerate(fleet.order_by("serial_number")):
            keys.append({"machine": str(m.pk), "serial": m.serial_number,
                         "key": issue_device_key(machine=m, label="bench").plaintext})
            if n % 1000 == 999:
                print(f"seed: {n + 1}/{machines} device keys", file=sys.stderr, flush=True)
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=__import__("datetime").timedelta(hours=2))
    return {"keys": keys, "token": str(token)}


def server_env() -> dict:
    return {**os.environ, "DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL,
            "CHANNEL_LAYER_PREFIX": PREFIX, "DEBUG": "0", "LOG_LEVEL": "WARNING",
            "SECRET_KEY": "bench-secret-key-not-for-production-0123456789",
            "ALLOWED_HOSTS": "127.0.0.1,localhost", "DJANGO_SETTINGS_MODULE": "vendhub.settings",
            "MQTT_URL": "", "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


def device_acls(serial: str) -> list[dict]:
    """A machine's own topics, literally: Mosquitto 2.0.11's plugin does not substitute
    `%u` in ACL topics, so each machine gets a role of its own."""
    from devices import topics

    acls = [{"acltype": "publishClientSend", "allow": True,
             "topic": topics.device_topic(serial, kind)}
            for kind in ("telemetry", "sales", "audit", "replies")]
    return acls + [{"acltype": "subscribePattern", "allow": True,
                    "topic": topics.device_topic(serial, kind)} for kind in topics.OUTBOUND]


def write_document(broker, keys: list[dict]) -> dict:
    """Before the broker's first start: its security document (devices/broker.py's, the
    service accounts and roles) with each machine's client (username = serial, password =
    its device key, hashed as the plugin hashes) and role. Creating thousands of clients
    over the control topic instead slows down as they accumulate: the plugin rewrites its
    whole file after every control message (`--provision control` measures it)."""
    from devices import broker as mosquitto

    t0 = time.monotonic()
    document = mosquitto.security_document(worker=broker.worker, server=broker.server)
    for key in keys:
        serial, role = key["serial"], f"device-{key['serial']}"
        document["roles"].append({"rolename": role, "acls": device_acls(serial)})
        document["clients"].append({"username": serial, "roles": [{"rolename": role}],
                                    **mosquitto._hashed(key["key"])})
    path = broker.data_dir / "dynamic-security.json"
    path.touch(mode=0o600)
    path.write_text(json.dumps(document))
    return {"devices": len(keys), "seconds": round(time.monotonic() - t0, 2), "errors": 0,
            "how": "the plugin's document, written before the broker started"}


def provision(broker, keys: list[dict], batch: int = 250) -> dict:
    """Each machine's broker client and role over the dynamic-security control topic with
    the server's account, `batch` machines a message, into a running broker."""
    import threading

    import paho.mqtt.client as mqtt

    from devices.broker import CONTROL_TOPIC

    answered, errors = threading.Semaphore(0), []

    def on_message(client, userdata, message) -> None:
        for response in json.loads(message.payload).get("responses", []):
            if response.get("error"):
                errors.append(response["error"])
        answered.release()

    admin = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-provision",
                        protocol=mqtt.MQTTv5)
    admin.username_pw_set(broker.server.username, broker.server.password)
    admin.on_message = on_message
    admin.connect(broker.host, broker.port)
    admin.loop_start()
    admin.subscribe(f"{CONTROL_TOPIC}/response", qos=1)
    t0 = time.monotonic()
    try:
        for start in range(0, len(keys), batch):
            commands = []
            for key in keys[start:start + batch]:
                serial, role = key["serial"], f"device-{key['serial']}"
                commands += [{"command": "createRole", "rolename": role,
                              "acls": device_acls(serial)},
                             {"command": "createClient", "username": serial,
                              "password": key["key"], "roles": [{"rolename": role}]}]
            admin.publish(CONTROL_TOPIC, json.dumps({"commands": commands}), qos=1)
            if not answered.acquire(timeout=60):
                raise RuntimeError("the broker's control API did not answer in 60 s")
            print(f"provision: {min(start + batch, len(keys))}/{len(keys)} device clients, "
                  f"{time.monotonic() - t0:.1f} s", flush=True)
    finally:
        admin.disconnect()
        admin.loop_stop()
    return {"devices": len(keys), "seconds": round(time.monotonic() - t0, 2),
            "errors": len(errors), "first_errors": errors[:3],
            "how": f"over the control topic, {batch} devices a message"}


# -- the run --------------------------------------------------------------------------------


class Meter:
    """CPU of named processes (cores over the interval), PostgreSQL's and the machine's
    other load, around one step."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        from bench.machine import MachineMeter
        from bench.procs import service_cpu

        self.pids = pids
        self.before = {name: self._cpu(p) for name, p in pids.items()}
        self.db0 = service_cpu("postgres")
        self.machine = MachineMeter().start()
        self.t0 = time.monotonic()

    @staticmethod
    def _cpu(pids: list[int]) -> float:
        from bench.procs import cpu_seconds

        return sum(cpu_seconds(pid) for pid in pids)

    def stop(self) -> dict:
        from bench.procs import service_cpu

        wall = time.monotonic() - self.t0
        load = self.machine.stop()
        cpu = {f"{name}_cpu": round((self._cpu(p) - self.before[name]) / wall, 2)
               for name, p in self.pids.items()}
        return {**cpu, "db_cpu": round((service_cpu("postgres") - self.db0) / wall, 2),
                "foreign_cpu": round(load.foreign, 2), "foreign_top": load.top}


async def committed_counter(stop: asyncio.Event, samples: list) -> None:
    """(seconds, readings in PostgreSQL) every second until `stop`."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(DATABASE_URL, autocommit=True) as conn:
        t0 = time.monotonic()
        while not stop.is_set():
            row = await (await conn.execute(
                "SELECT count(*) FROM telemetry_telemetryreading")).fetchone()
            samples.append((round(time.monotonic() - t0, 2), row[0]))
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except TimeoutError:
                pass


def committed_rate(samples: list) -> float:
    """Readings committed a second between the first and the last sample that moved."""
    moving = [s for s, nxt in zip(samples, samples[1:], strict=False) if nxt[1] > s[1]]
    if not moving:
        return 0.0
    first = moving[0]
    last = next(s for s in reversed(samples) if s[1] > first[1]) if len(samples) > 1 else first
    return round((last[1] - first[1]) / (last[0] - first[0]), 1) if last[0] > first[0] else 0.0


async def step_ingest(devices, http, pids: dict, args) -> dict:
    from bench.procs import rss_bytes

    out = {}
    for readings in args.readings:
        print(f"ingest: {args.ingest_devices} devices, {readings} reading(s) a message, "
              f"window {args.window}, {args.seconds} s", flush=True)
        stop, samples = asyncio.Event(), []
        counter = asyncio.create_task(committed_counter(stop, samples))
        meter = Meter(pids)
        r = await devices.ask({"cmd": "run", "seconds": args.seconds, "readings": readings,
                               "window": args.window, "count": args.ingest_devices,
                               "drain": 60}, timeout=STEP_TIMEOUT_S)
        r.update(meter.stop())
        stop.set()
        await counter
        r["committed_per_s"] = committed_rate(samples)
        r["committed_timeline"] = samples
        r["broker_rss_mb"] = round(rss_bytes(pids["broker"][0]) / 2**20, 1)
        r["readings_answered_per_s"] = round(r["answered_per_s"] * readings, 1)
        print(f"ingest: {r['committed_per_s']:,} readings/s committed, "
              f"{r['answered_per_s']:,} messages/s answered; CPU workers {r['workers_cpu']}, "
              f"PostgreSQL {r['db_cpu']}, broker {r['broker_cpu']}", flush=True)
        out[f"mqtt-{readings}"] = r
    print(f"ingest: HTTP batches of 500, 4 in flight, {args.seconds} s", flush=True)
    meter = Meter(pids)
    r = await http.ask({"cmd": "run", "batch": 500, "concurrency": HTTP_MACHINES,
                        "duration": args.seconds}, timeout=STEP_TIMEOUT_S)
    r.update(meter.stop())
    print(f"ingest: HTTP {r['readings_per_s']:,} readings/s", flush=True)
    out["http"] = r
    return out


async def step_latency(devices, seeded: dict, port: int, args) -> dict:
    machines = [k["machine"] for k in seeded["keys"][:args.latency_machines]]
    out = {}
    for transport in ("mqtt", "http"):
        print(f"latency: {transport}, {args.latency_rate} readings/s over "
              f"{len(machines)} machines, {args.latency_seconds} s", flush=True)
        r = await devices.ask({"cmd": "latency", "host": "127.0.0.1", "port": port,
                               "token": seeded["token"], "machines": machines,
                               "rate": args.latency_rate, "seconds": args.latency_seconds,
                               "transport": transport}, timeout=STEP_TIMEOUT_S)
        print(f"latency: {transport} p50 {r.get('p50_ms')} ms, p99 {r.get('p99_ms')} ms, "
              f"{r.get('matched')}/{r.get('sent')} matched", flush=True)
        out[transport] = r
    return out


async def step_hold(devices, pids: dict, args) -> dict:
    from bench.procs import rss_bytes

    broker = pids["broker"][0]
    await devices.ask({"cmd": "close"})
    await asyncio.sleep(1)
    rss0 = rss_bytes(broker)
    print(f"hold: {args.hold_devices} devices connect at once", flush=True)
    meter = Meter(pids)
    connect = await devices.ask({"cmd": "connect", "count": args.hold_devices,
                                 "concurrency": 500, "persistent": True},
                                timeout=STEP_TIMEOUT_S)
    connect.update(meter.stop())
    rss1 = rss_bytes(broker)
    print(f"hold: {connect['connected']} connected in {connect['seconds']} s; broker RSS "
          f"{rss0 / 2**20:.1f} -> {rss1 / 2**20:.1f} MB", flush=True)
    meter = Meter(pids)
    run = await devices.ask({"cmd": "run", "seconds": args.hold_seconds, "readings": 1,
                             "rate": args.hold_rate, "drain": 30}, timeout=STEP_TIMEOUT_S)
    run.update(meter.stop())
    stats = await devices.ask({"cmd": "stats"})
    print(f"hold: {run['published']} published, {run['answers']} answered, "
          f"{stats['connected']} still connected", flush=True)
    return {"connect": connect, "run": run, "still_connected": stats["connected"],
            "broker_rss_before_mb": round(rss0 / 2**20, 1),
            "broker_rss_after_mb": round(rss1 / 2**20, 1),
            "broker_kb_per_device": round((rss1 - rss0) / 1024 / max(1, connect["new"]), 1)}


async def wait_for_workers(workers, timeout: float = 60) -> None:
    """Until every worker logged its connection: a message published before a shared
    subscription exists has no subscriber, and the broker drops it."""
    deadline = time.monotonic() + timeout
    while not all("connected to" in w.log_tail(20_000) for w in workers):
        if time.monotonic() > deadline or any(w.process.returncode is not None
                                              for w in workers):
            raise RuntimeError("the ingestion workers did not connect:\n"
                               + "\n".join(w.log_tail(2000) for w in workers))
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # their SUBSCRIBE reaches the broker


async def run_steps(seeded: dict, args) -> dict:
    from bench.procs import PYTHON, Proc, Procs, free_port
    from bench.sales_ingest import process_cpu
    from bench.serving import serving
    from devices.broker import PrivateBroker

    keys = seeded["keys"]
    result: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-mqtt-") as tmp:
        work = Path(tmp)
        broker = PrivateBroker(port=free_port(), data_dir=work / "broker")
        broker.prepare()
        devices_keys = keys[:max(args.hold_devices, args.ingest_devices, args.latency_machines)]
        if args.provision == "document":
            result["provision"] = write_document(broker, devices_keys)
        broker.start()
        try:
            if args.provision == "control":
                result["provision"] = provision(broker, devices_keys)
            devices_file = work / "devices.json"
            devices_file.write_text(json.dumps([{**k, "password": k["key"]} for k in keys]))
            http_file = work / "http-keys.json"
            http_file.write_text(json.dumps(keys[-HTTP_MACHINES:]))
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            worker_options = ([] if args.batch_window is None
                              else ["--batch-window", str(args.batch_window)])
            argv = [sys.executable, "-m", "uvicorn", "vendhub.asgi:application", "--host",
                    "127.0.0.1", "--port", str(port), "--ws", "websockets-sansio",
                    "--ws-per-message-deflate", "false", "--no-server-header",
                    "--no-date-header", "--no-access-log", "--log-level", "warning"]
            with serving(argv, env=server_env(), log_name="mqtt-bench-server.log",
                         probe=f"{url}/api/v1/schema/") as server:
                async with Procs() as procs:
                    workers = [await procs.start(Proc(
                        f"mqtt-ingest-{n}", [PYTHON, "manage.py", "mqtt_ingest", "--url",
                                             broker.worker_url, "--name", f"bench-{n}",
                                             *worker_options],
                        env=server_env())) for n in (1, 2)]
                    devices = await procs.start(Proc("mqtt-devices", [
                        PYTHON, "-m", "bench.clients.mqtt_devices", "--port", str(broker.port),
                        "--devices", str(devices_file)], control=True))
                    http = await procs.start(Proc("mqtt-bench-http", [
                        PYTHON, "-m", "bench.clients.ingest", "--port", str(port),
                        "--keys", str(http_file)], control=True))
                    pids = {"workers": [w.pid for w in workers], "broker": [broker.process.pid],
                            "devices": [devices.pid], "server": [server.pid]}
                    await wait_for_workers(workers)
                    result["connect-ingest"] = await devices.ask(
                        {"cmd": "connect", "count": args.ingest_devices, "concurrency": 200},
                        timeout=STEP_TIMEOUT_S)
                    if "ingest" in args.steps:
                        result["ingest"] = await step_ingest(devices, http, pids, args)
                    if "latency" in args.steps:
                        result["latency"] = await step_latency(devices, seeded, port, args)
                    if "hold" in args.steps:
                        result["hold"] = await step_hold(devices, pids, args)
                    await devices.ask({"cmd": "close"}, timeout=60)
                    result["server_cpu_s"] = round(process_cpu(server.pid), 1)
        finally:
            broker.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--machines", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--steps", default="ingest,latency,hold")
    parser.add_argument("--ingest-devices", type=int, default=200)
    parser.add_argument("--window", type=int, default=4,
                        help="messages a device may have unanswered (ingest step)")
    parser.add_argument("--readings", default="1,20",
                        help="readings per message, one ingest run each (comma-separated)")
    parser.add_argument("--seconds", type=float, default=30.0, help="each ingest run")
    parser.add_argument("--latency-machines", type=int, default=20)
    parser.add_argument("--latency-rate", type=float, default=20.0)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--batch-window", type=float, default=None,
                        help="the workers' --batch-window (default: theirs)")
    parser.add_argument("--hold-devices", type=int, default=5000)
    parser.add_argument("--hold-rate", type=float, default=100.0,
                        help="messages a second from all the held devices together")
    parser.add_argument("--hold-seconds", type=float, default=60.0)
    parser.add_argument("--provision", choices=("document", "control"), default="document",
                        help="the devices' broker clients: written into the plugin's document "
                             "before the broker starts, or created over its control topic")
    args = parser.parse_args()
    if args.seed_only:
        print(json.dumps(seed(args.machines)))
        return
    args.readings = [int(n) for n in args.readings.split(",")]
    args.steps = set(args.steps.split(","))

    sys.path.insert(0, str(ROOT))
    from bench.fixtures import ensure_database
    from bench.machine import OWN_DATABASES
    from bench.mqtt_report import write
    from bench.serving import git_head

    OWN_DATABASES.add(DATABASE_URL.rsplit("/", 1)[-1])
    ensure_database(DATABASE_URL)
    machines = max(args.hold_devices, args.ingest_devices, args.latency_machines) + HTTP_MACHINES
    print(f"seed: migrate, {machines} machines and their device keys", flush=True)
    seeding = subprocess.run(
        [sys.executable, "-m", "bench.mqtt_ingest", "--seed-only", "--machines", str(machines)],
        cwd=ROOT, env=server_env(), capture_output=True, text=True, timeout=STEP_TIMEOUT_S)
    if seeding.returncode:
        sys.exit(f"seed failed:\n{seeding.stderr[-3000:]}")
    seeded = json.loads(seeding.stdout.strip().splitlines()[-1])
    started = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    steps = asyncio.run(asyncio.wait_for(run_steps(seeded, args), 6 * STEP_TIMEOUT_S))
    result = {"started": started, "git": git_head(), "machines": machines,
              "ingest_devices": args.ingest_devices, "window": args.window,
              "batch_window": args.batch_window,
              "seconds": args.seconds, "latency_rate": args.latency_rate,
              "latency_machines": args.latency_machines, "hold_devices": args.hold_devices,
              "hold_rate": args.hold_rate, "hold_seconds": args.hold_seconds,
              "credentials": "own (a broker client and role per machine)", **steps}
    write(result)
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, dict)}, indent=2))


if __name__ == "__main__":
    main()
