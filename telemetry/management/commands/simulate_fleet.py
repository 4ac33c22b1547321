"""`manage.py simulate_fleet`: machines posting realistic telemetry over HTTP, and the vends
and cash-collection audits of those with a planogram."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import signal
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from machines.models import Machine, MachineStatus, Task, TaskKind, TaskStatus
from telemetry.conf import telemetry_settings
from telemetry.device_keys import issue_device_key, revoke_device_keys
from telemetry.models import DeviceKey
from telemetry.simulated_tills import till_for
from telemetry.simulator import Behaviour, SimulatedBunker, SimulatedMachine

KEY_LABEL = "simulate_fleet"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
MAX_BACKLOG = 5000
#: On stop, how long the machines may take to finish the requests they have in flight.
STOP_GRACE_SECONDS = 5.0


@dataclass
class Device:
    machine: SimulatedMachine
    key: str
    name: str


class Command(BaseCommand):
    help = (
        "Simulate N machines posting telemetry to POST /api/v1/telemetry/ with their device "
        "keys: temperatures drift, bunkers deplete with sales and are refilled when the "
        "operator closes the refill task, errors come and go, some machines drop offline. "
        "Machines with a planogram sell from it (POST /api/v1/sales/: recipes drain the "
        "bunkers, slots empty, cash/card/mobile) and post a DEX audit on each cash "
        "collection (POST /api/v1/audits/)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--machines", type=int, default=20,
                            help="how many machines to simulate (0: all); default 20")
        parser.add_argument("--interval", type=float, default=5.0,
                            help="seconds between a machine's readings (default 5)")
        parser.add_argument("--duration", type=float, default=0.0,
                            help="stop after this many seconds (default 0: until Ctrl+C)")
        parser.add_argument("--url", default="http://127.0.0.1:8000",
                            help="the server (default http://127.0.0.1:8000)")
        parser.add_argument("--organization", help="only machines of this organization (slug)")
        keys = parser.add_mutually_exclusive_group()
        keys.add_argument("--issue-keys", dest="issue_keys", action="store_true", default=None,
                          help="issue fresh device keys in the database (default when --url is "
                               "this host); the simulator's earlier keys are revoked")
        keys.add_argument("--no-issue-keys", dest="issue_keys", action="store_false")
        parser.add_argument("--keys-file", type=Path,
                            help="JSON {serialNumber: key} of keys to use instead")
        parser.add_argument("--sales-per-minute", type=float, default=2.0,
                            help="a machine's mean sales per minute over a day (default 2); "
                                 "the hour of the day raises or lowers it")
        parser.add_argument("--collect-cash-at", type=int, default=500_000,
                            help="collect a machine's cash, and post its DEX audit, when its "
                                 "box holds this much (sums; default 500000)")
        parser.add_argument("--collect-every", type=float, default=24.0,
                            help="...or this many hours after its last collection (default 24)")
        parser.add_argument("--error-rate", type=float, default=0.01,
                            help="new errors per machine-minute (default 0.01)")
        parser.add_argument("--offline-rate", type=float, default=0.004,
                            help="network drops or power-offs per machine-minute (default 0.004)")
        parser.add_argument("--progress", type=float, default=10.0,
                            help="seconds between progress lines (default 10)")
        parser.add_argument("--seed", type=int, help="random seed, for a reproducible run")
        parser.add_argument("--wait-for-server", action="store_true",
                            help="wait up to 60 s for the server to answer before starting")
        parser.add_argument("--transport", choices=("http", "mqtt"), default="http",
                            help="http: POST to --url; mqtt: each machine an MQTT client of "
                                 "the broker (its serial and device key), answering commands")
        parser.add_argument("--mqtt-url",
                            help="the broker the machines connect to (mqtt://host:port; "
                                 "default: MQTT_URL's host and port)")
        parser.add_argument("--command-failure-rate", type=float, default=0.05,
                            help="mqtt: share of commands a machine answers with a failure")
        parser.add_argument("--command-silence-rate", type=float, default=0.03,
                            help="mqtt: share of commands a machine never answers (they expire)")

    def handle(self, *args, **options):
        if options["interval"] <= 0:
            raise CommandError("--interval must be positive")
        rng = random.Random(options["seed"])
        behaviour = Behaviour(sales_per_minute=options["sales_per_minute"],
                              error_rate=options["error_rate"],
                              offline_rate=options["offline_rate"])
        if options["transport"] == "mqtt":
            options["broker"] = self.broker(options)
        machines = self.machines(options["machines"], options["organization"])
        if not machines:
            raise CommandError("no machines to simulate: run `manage.py seed_demo` first")
        devices = self.devices(machines, options, rng, behaviour)
        target = (f"mqtt://{options['broker'].host}:{options['broker'].port}"
                  if options["transport"] == "mqtt" else options["url"])
        self.stdout.write(
            f"simulating {len(devices)} machine(s) -> {target}, one reading every "
            f"{options['interval']:g}s" + (f" for {options['duration']:g}s"
                                           if options["duration"] else ", Ctrl+C stops"))
        # One line per request from httpx would drown the progress lines.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        close_old_connections()
        stats = asyncio.run(Simulation(self, devices, options).run())
        self.stdout.write(self.style.SUCCESS(f"done: {stats.summary()}"))

    def broker(self, options):
        """Where the machines connect. Their broker clients are made when their keys are
        issued, which needs the server's account (MQTT_URL)."""
        from devices.broker import MqttAddress

        url = options["mqtt_url"] or settings.MQTT_URL
        if not url:
            raise CommandError("--transport mqtt needs MQTT_URL (or --mqtt-url)")
        if not settings.MQTT_URL and options["issue_keys"] is not False:
            raise CommandError("issuing keys for MQTT needs MQTT_URL (the server's broker "
                               "account provisions the machines' clients); or pass "
                               "--no-issue-keys with --keys-file of provisioned keys")
        try:
            return MqttAddress.parse(url)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc

    def machines(self, count: int, organization: str | None) -> list[Machine]:
        machines = (Machine.objects.select_related("organization").prefetch_related("bunkers")
                    .order_by("serial_number"))
        if organization:
            machines = machines.filter(organization__slug=organization)
        return list(machines[:count] if count > 0 else machines)

    def devices(self, machines: list[Machine], options, rng: random.Random,
                behaviour: Behaviour) -> list[Device]:
        issue = options["issue_keys"]
        if issue is None:
            local = urlsplit(options["url"]).hostname in LOCAL_HOSTS
            issue = options["keys_file"] is None and local
        if issue:
            revoke_device_keys(keys=DeviceKey.objects.filter(machine__in=machines,
                                                             label=KEY_LABEL))
            keys = {m.serial_number: issue_device_key(machine=m, label=KEY_LABEL).plaintext
                    for m in machines}
        elif options["keys_file"]:
            keys = json.loads(options["keys_file"].read_text())
        else:
            raise CommandError("no device keys: pass --issue-keys (the server shares this "
                               "database) or --keys-file")
        devices = []
        # Unique per run: a device's transaction counter survives its restarts, ours does not.
        prefix = f"{int(time.time()):x}-"
        for machine in machines:
            if machine.serial_number not in keys:
                self.stderr.write(f"no key for {machine.serial_number}: skipped")
                continue
            simulated = SimulatedMachine(
                machine_id=str(machine.pk), serial_number=machine.serial_number, rng=rng,
                behaviour=behaviour,
                bunkers=[SimulatedBunker(str(b.pk), b.capacity_grams, b.current_level_grams,
                                         grams_per_sale=rng.randint(6, 18))
                         for b in machine.bunkers.all()],
            )
            hours = options["collect_every"]
            simulated.sales = till_for(
                machine, simulated, rng, sales_per_minute=options["sales_per_minute"],
                collect_at=options["collect_cash_at"], prefix=prefix,
                collect_every=timedelta(hours=hours) if hours > 0 else None)
            devices.append(Device(simulated, keys[machine.serial_number], machine.name))
        return devices


class Stats(Counter):
    def summary(self) -> str:
        text = (f"{self['readings']} readings, {self['vends']} vends "
                f"({self['revenue']} sum), {self['audits']} audits in {self['requests']} "
                f"requests, {self['failed']} failed, {self['refills']} refills")
        if self["commands"]:  # over MQTT
            text += (f"; {self['commands']} commands ({self['commands answered']} answered, "
                     f"{self['commands failed']} failed, {self['commands unanswered']} "
                     f"unanswered); {self['connects']} connects")
        return text


@sync_to_async
def _done_refills(machine_ids: list[str], seen: set) -> list[tuple[str, str]]:
    """(machine id, bunker id) of refill tasks closed since the last poll."""
    close_old_connections()
    rows = (Task.objects.filter(kind=TaskKind.REFILL, status=TaskStatus.DONE,
                                machine_id__in=machine_ids, bunker__isnull=False)
            .exclude(pk__in=seen).values_list("pk", "machine_id", "bunker_id"))
    found = []
    for pk, machine_id, bunker_id in rows:
        seen.add(pk)
        found.append((str(machine_id), str(bunker_id)))
    return found


@sync_to_async
def _done_task_ids(machine_ids: list[str]) -> set:
    return set(Task.objects.filter(kind=TaskKind.REFILL, status=TaskStatus.DONE,
                                   machine_id__in=machine_ids).values_list("pk", flat=True))


class Simulation:
    def __init__(self, command: Command, devices: list[Device], options) -> None:
        self.command, self.devices, self.options = command, devices, options
        self.interval = options["interval"]
        self.batch = telemetry_settings().max_batch
        self.stats = Stats()
        self.stopping = asyncio.Event()
        self.started = time.monotonic()

    def say(self, message: str) -> None:
        self.command.stdout.write(f"[{time.monotonic() - self.started:6.0f}s] {message}")

    async def run(self) -> Stats:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.stopping.set)
            except (NotImplementedError, RuntimeError):
                pass
        limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
        async with httpx.AsyncClient(base_url=self.options["url"], timeout=15,
                                     limits=limits) as http:
            if self.options["wait_for_server"]:
                await self.wait_for(http)
            drive = self.drive_mqtt if self.options["transport"] == "mqtt" else self.drive
            tasks = [asyncio.create_task(drive(http, device)) for device in self.devices]
            tasks += [asyncio.create_task(self.report()), asyncio.create_task(self.refills())]
            duration = self.options["duration"]
            try:
                await asyncio.wait_for(self.stopping.wait(), duration or None)
            except TimeoutError:
                pass
            self.stopping.set()
            # Let the machines finish the request each has in flight (they stop before the
            # next one): a request cut off mid-way is an aborted request in the server's log.
            await asyncio.wait(tasks[:len(self.devices)], timeout=STOP_GRACE_SECONDS)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return self.stats

    async def wait_for(self, http: httpx.AsyncClient) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not self.stopping.is_set():
            try:
                await http.get("/api/v1/schema/", timeout=2)
                return
            except httpx.TransportError:
                await asyncio.sleep(0.5)
        raise CommandError(f"server {self.options['url']} did not answer within 60 s")

    async def drive(self, http: httpx.AsyncClient, device: Device) -> None:
        machine = device.machine
        await self.pause(machine.rng.uniform(0, self.interval))  # spread the fleet out
        last = time.monotonic()
        while not self.stopping.is_set():
            now = time.monotonic()
            readings = machine.step(datetime.now(UTC), now - last)
            last = now
            # Vends before the readings (a reading's levels already count them) and before
            # an audit (its period must find them stored); all three retried if refused.
            sold = await self.post_vends(http, device)
            for start in range(0, len(readings), self.batch):
                chunk = readings[start:start + self.batch]
                if not await self.post(http, device, chunk):
                    machine.backlog[:0] = readings[start:]  # retried next tick: idempotent
                    del machine.backlog[:-MAX_BACKLOG]
                    break
            while sold and machine.audits:
                if not await self.send(http, device, "/api/v1/audits/",
                                       content=machine.audits[0]):
                    break
                machine.audits.pop(0)
                self.stats["audits"] += 1
            await self.pause(self.interval * machine.rng.uniform(0.9, 1.1))

    async def drive_mqtt(self, http: httpx.AsyncClient, device: Device) -> None:
        from devices.simulated_device import CommandHabits, MqttDevice

        habits = CommandHabits(failure_rate=self.options["command_failure_rate"],
                               silence_rate=self.options["command_silence_rate"])
        await MqttDevice(device.machine, broker=self.options["broker"], key=device.key,
                         interval=self.interval, batch=self.batch, stats=self.stats,
                         stopping=self.stopping, habits=habits).run()

    async def post_vends(self, http: httpx.AsyncClient, device: Device) -> bool:
        """Post the machine's sold vends in batches; True when none is left waiting."""
        vends = device.machine.vends
        while vends:
            chunk = vends[:self.batch]
            if not await self.send(http, device, "/api/v1/sales/",
                                   json=chunk[0] if len(chunk) == 1 else chunk):
                del vends[:-MAX_BACKLOG]  # retried next tick: idempotent per transaction id
                return False
            del vends[:len(chunk)]
            self.stats["vends"] += len(chunk)
            self.stats["revenue"] += sum(vend["price"] for vend in chunk)
        return True

    async def pause(self, seconds: float) -> None:
        """Sleep, or less when the simulation is stopping."""
        try:
            await asyncio.wait_for(self.stopping.wait(), seconds)
        except TimeoutError:
            pass

    async def post(self, http: httpx.AsyncClient, device: Device, readings: list[dict]) -> bool:
        body = readings[0] if len(readings) == 1 else readings
        if not await self.send(http, device, "/api/v1/telemetry/", json=body):
            return False
        self.stats["readings"] += len(readings)
        return True

    async def send(self, http: httpx.AsyncClient, device: Device, path: str, *,
                   json=None, content: str | None = None) -> bool:
        """POST with the device key. False: to be retried (the server is down or failing);
        True: done, or refused for good (a 4xx: our bug or a revoked key, shown)."""
        headers = {"Authorization": f"Device {device.key}"}
        if content is not None:
            headers["Content-Type"] = "text/plain; charset=utf-8"
        self.stats["requests"] += 1
        try:
            response = await http.post(path, json=json, content=content, headers=headers)
        except httpx.TransportError as exc:
            self.stats["failed"] += 1
            self.stats[f"error: {type(exc).__name__}"] += 1
            return False
        if response.status_code >= 500:
            self.stats["failed"] += 1
            return False
        if response.status_code >= 400:  # our bug or a revoked key: retrying will not help
            self.stats["rejected"] += 1
            if self.stats["rejected"] <= 5:
                self.say(f"{device.machine.serial_number}: {path} {response.status_code} "
                         f"{response.text[:300]}")
            return True
        return True

    async def report(self) -> None:
        every = self.options["progress"]
        previous = 0
        while True:
            await asyncio.sleep(every)
            machines = [d.machine for d in self.devices]
            offline = sum(m.offline for m in machines)
            broken = sum(m.status == MachineStatus.ERROR for m in machines if not m.offline)
            rate = (self.stats["readings"] - previous) / every
            previous = self.stats["readings"]
            self.say(f"{len(machines)} machines: {self.stats['readings']} readings posted "
                     f"({rate:.1f}/s), {self.stats['vends']} vends ({self.stats['revenue']} "
                     f"sum), {self.stats['audits']} audits, {offline} offline, {broken} in "
                     f"error, {self.stats['failed']} failed requests, "
                     f"{self.stats['refills']} refills")

    async def refills(self) -> None:
        ids = [d.machine.machine_id for d in self.devices]
        by_id = {d.machine.machine_id: d for d in self.devices}
        seen = await _done_task_ids(ids)  # tasks closed before we started are history
        while True:
            await asyncio.sleep(min(5.0, self.interval))
            try:
                done = await _done_refills(ids, seen)
            except Exception as exc:  # the database blinked: try again next round
                self.say(f"refill poll failed: {exc}")
                continue
            for machine_id, bunker_id in done:
                device = by_id[machine_id]
                if device.machine.refill(bunker_id):
                    self.stats["refills"] += 1
                    self.say(f"{device.machine.serial_number} ({device.name}): bunker refilled")
