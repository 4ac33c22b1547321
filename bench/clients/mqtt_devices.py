"""Many MQTT devices in one process (bench/mqtt_ingest.py): each an asyncio protocol over
one TCP connection speaking MQTT 3.1.1 (bench/clients/mqtt_wire.py), with its own
credentials, subscribed to its `…/ack` topic.

    python -m bench.clients.mqtt_devices --host 127.0.0.1 --port P --devices devices.json

Commands (stdin JSON lines, bench/clients/control.py):
- `connect` {count, concurrency, persistent}: the first `count` devices connect (and
  subscribe); connect times, failures.
- `run` {seconds, window, readings, rate, count}: the first `count` devices publish
  telemetry at QoS 1, each `readings` readings per message. Without `rate`, closed loop:
  each device keeps `window` messages that its `…/ack` has not answered yet (the pipeline's
  own pace: broker → worker → commit → answer); with `rate`, that many messages a second
  across the devices. Counts of PUBACKs (the broker has it) and answers (committed).
- `latency` (bench/clients/sio_probe.py): readings published at a fixed rate over MQTT or
  POSTed over HTTP, each timed until `machine:telemetry` reaches a subscribed socket.
- `stats`, `close`.

Timestamps: per machine `base + k ms`, base an hour before the process started, `k`
counting up across commands, so no reading repeats another.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from datetime import UTC, datetime, timedelta

import orjson

from ..procs import raise_nofile
from . import mqtt_wire as wire
from .control import install_fast_loop, percentile, serve


class Device(asyncio.Protocol):
    """One machine's connection."""

    def __init__(self, fleet: Fleet, spec: dict) -> None:
        self.fleet, self.spec = fleet, spec
        self.serial = spec["serial"]
        self.telemetry_topic = f"vendhub/v1/{self.serial}/telemetry".encode()
        self.parser = wire.Parser()
        self.transport: asyncio.Transport | None = None
        self.connected: asyncio.Future = asyncio.get_running_loop().create_future()
        self.ids = itertools.cycle(range(1, 65536))
        self.unanswered = 0  # published, not answered on `…/ack` yet
        self.wake = asyncio.Event()
        self.lost = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(wire.connect_packet(
            f"bench-{self.serial}", username=self.serial, password=self.spec["password"],
            clean=not self.fleet.persistent, keepalive=self.fleet.keepalive))

    def connection_lost(self, exc) -> None:
        self.lost = True
        self.fleet.stats["lost"] += 1
        if not self.connected.done():
            self.connected.set_exception(ConnectionError("closed before CONNACK"))
        self.wake.set()

    def data_received(self, data: bytes) -> None:
        stats = self.fleet.stats
        for kind, flags, body in self.parser.feed(data):
            if kind == wire.PUBACK:
                stats["pubacks"] += 1
            elif kind == wire.PUBLISH:
                _topic, packet_id, payload = wire.parse_publish(flags, body)
                if packet_id:
                    self.transport.write(wire.puback_packet(packet_id))
                self.on_answer(payload)
            elif kind == wire.CONNACK:
                if body[1] == 0:
                    self.transport.write(wire.subscribe_packet(
                        f"vendhub/v1/{self.serial}/ack", next(self.ids)))
                elif not self.connected.done():
                    self.connected.set_exception(ConnectionError(f"CONNACK {body[1]}"))
            elif kind == wire.SUBACK and not self.connected.done():
                if body[2:3] == b"\x80":
                    self.connected.set_exception(ConnectionError("SUBSCRIBE refused"))
                else:
                    self.connected.set_result(None)

    def on_answer(self, payload: bytes) -> None:
        stats = self.fleet.stats
        stats["answers"] += 1
        try:
            answer = orjson.loads(payload)
        except orjson.JSONDecodeError:
            answer = {}
        if answer.get("ok"):
            stats["accepted"] += answer.get("accepted", 0)
            stats["duplicates"] += answer.get("duplicates", 0)
        else:
            stats["rejected"] += 1
            if stats["rejected"] <= 3:
                print(f"rejected: {payload[:300]!r}", flush=True)
        if self.unanswered:
            self.unanswered -= 1
        self.wake.set()

    def publish(self, readings: int) -> None:
        body = orjson.dumps(self.fleet.readings(self.spec["machine"], readings))
        self.transport.write(wire.publish_packet(self.telemetry_topic, body, next(self.ids)))
        self.unanswered += 1
        self.fleet.stats["published"] += 1


class Fleet:
    def __init__(self, args) -> None:
        with open(args.devices, "rb") as f:
            self.specs = orjson.loads(f.read())
        self.host, self.port = args.host, args.port
        self.devices: list[Device] = []
        self.persistent = True
        self.keepalive = 120
        self.base = datetime.now(UTC) - timedelta(hours=1)
        self.offset_ms: dict[str, int] = {}
        self.stats = self.zero()
        self.pinger: asyncio.Task | None = None

    @staticmethod
    def zero() -> dict:
        return dict.fromkeys(("published", "pubacks", "answers", "accepted", "duplicates",
                              "rejected", "lost"), 0)

    def timestamp(self, machine: str) -> datetime:
        """The machine's next reading time (never one it used before)."""
        k = self.offset_ms.get(machine, 0)
        self.offset_ms[machine] = k + 1
        return self.base + timedelta(milliseconds=k)

    def readings(self, machine: str, n: int):
        items = [{"machineId": machine,
                  "timestamp": self.timestamp(machine).isoformat().replace("+00:00", "Z"),
                  "status": "online", "temperature": 21.5 + (i % 7) * 0.1, "humidity": 40.0,
                  "bunkers": [], "errors": [], "uptime": 3600 + i} for i in range(n)]
        return items[0] if n == 1 else items

    # -- commands ----------------------------------------------------------------------

    async def cmd_connect(self, command: dict) -> dict:
        count, concurrency = int(command["count"]), int(command.get("concurrency", 200))
        self.persistent = bool(command.get("persistent", True))
        self.keepalive = int(command.get("keepalive", 120))
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(concurrency)
        times: list[float] = []
        failures: dict[str, int] = {}
        step = max(1, count // 10)
        t0 = time.monotonic()

        async def one(spec: dict) -> None:
            async with gate:
                c0 = time.monotonic()
                try:
                    _, device = await loop.create_connection(
                        lambda: Device(self, spec), self.host, self.port)
                    await asyncio.wait_for(device.connected, 30)
                except (OSError, ConnectionError, TimeoutError) as exc:
                    name = type(exc).__name__ + (f": {exc}" if str(exc) else "")
                    failures[name] = failures.get(name, 0) + 1
                    return
                times.append(time.monotonic() - c0)
                self.devices.append(device)
                if len(self.devices) % step == 0:
                    print(f"connect: {len(self.devices)}/{count}, "
                          f"{time.monotonic() - t0:.1f} s", flush=True)

        start = len(self.devices)
        await asyncio.gather(*(one(spec) for spec in self.specs[start:count]))
        if self.pinger is None:
            self.pinger = asyncio.create_task(self.ping_forever())
        return {"connected": len(self.devices), "new": len(times),
                "seconds": round(time.monotonic() - t0, 3), "failures": failures,
                "connect_p50_ms": round((percentile(times, 50) or 0) * 1000, 1),
                "connect_p99_ms": round((percentile(times, 99) or 0) * 1000, 1)}

    async def ping_forever(self) -> None:
        while True:
            await asyncio.sleep(self.keepalive / 2)
            for device in self.devices:
                if not device.lost:
                    device.transport.write(wire.PINGREQ_PACKET)

    async def cmd_run(self, command: dict) -> dict:
        seconds, readings = float(command["seconds"]), int(command.get("readings", 1))
        devices = self.devices[:int(command.get("count", len(self.devices)))]
        rate = command.get("rate")
        before = dict(self.stats)
        timeline: list[tuple[float, int]] = []
        t0 = time.monotonic()
        deadline = t0 + seconds

        async def closed_loop(device: Device, window: int) -> None:
            while time.monotonic() < deadline and not device.lost:
                while device.unanswered < window:
                    device.publish(readings)
                device.wake.clear()
                remaining = max(0.01, deadline - time.monotonic())
                try:
                    await asyncio.wait_for(device.wake.wait(), remaining)
                except TimeoutError:
                    return

        async def paced() -> None:
            sent, turn = 0, itertools.cycle(devices)
            while (now := time.monotonic()) < deadline:
                due = int((now - t0) * float(rate))
                while sent < due:
                    device = next(turn)
                    if not device.lost:
                        device.publish(readings)
                    sent += 1
                await asyncio.sleep(0.005)

        async def sample() -> None:
            while time.monotonic() < deadline:
                await asyncio.sleep(1.0)
                timeline.append((round(time.monotonic() - t0, 2), self.stats["answers"]))

        sampler = asyncio.create_task(sample())
        if rate:
            await paced()
        else:
            window = int(command.get("window", 4))
            await asyncio.gather(*(closed_loop(d, window) for d in devices))
        elapsed = time.monotonic() - t0
        sampler.cancel()
        # The answers still on their way are counted by the drain, not in the rate.
        counts = {k: self.stats[k] - before[k] for k in self.stats}
        drain0 = time.monotonic()
        while (sum(d.unanswered for d in devices) and not all(d.lost for d in devices)
               and time.monotonic() - drain0 < float(command.get("drain", 30))):
            await asyncio.sleep(0.1)
        return {**counts, "seconds": round(elapsed, 3), "devices": len(devices),
                "readings_per_message": readings,
                "answered_per_s": round(counts["answers"] / elapsed, 1),
                "accepted_per_s": round(counts["accepted"] / elapsed, 1),
                "unanswered_after_drain": sum(d.unanswered for d in devices),
                "drain_s": round(time.monotonic() - drain0, 2),
                "timeline": timeline}

    async def cmd_latency(self, command: dict) -> dict:
        from .sio_probe import measure_latency

        by_machine = {d.spec["machine"]: d for d in self.devices}
        return await measure_latency(self, by_machine, command)

    async def cmd_stats(self, command: dict) -> dict:
        return {**self.stats, "connected": sum(not d.lost for d in self.devices)}

    async def cmd_close(self, command: dict) -> dict:
        for device in self.devices:
            if not device.lost:
                device.transport.write(wire.DISCONNECT_PACKET)
                device.transport.close()
        closed = len(self.devices)
        self.devices = []
        await asyncio.sleep(0.2)
        return {"closed": closed}


async def main(args) -> None:
    fleet = Fleet(args)
    await serve({"connect": fleet.cmd_connect, "run": fleet.cmd_run,
                 "latency": fleet.cmd_latency, "stats": fleet.cmd_stats,
                 "close": fleet.cmd_close})


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--devices", required=True,
                        help="JSON list of {serial, password, machine, key}")
    raise_nofile()
    install_fast_loop()
    asyncio.run(main(parser.parse_args()))
