"""Telemetry ingest load: devices POSTing readings to /api/v1/telemetry/ over keep-alive
HTTP/1.1 (aiohttp), `concurrency` devices at once, each its own machine and key.

Timestamps: per machine, `base + k ms` with `base` an hour before the run started, so a run
never collides with a previous one (readings are unique per machine and instant).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import UTC, datetime, timedelta

import aiohttp
import orjson

from ..procs import cpu_seconds
from .control import install_fast_loop, percentile, serve


class Ingest:
    def __init__(self, args) -> None:
        self.url = f"http://127.0.0.1:{args.port}/api/v1/telemetry/"
        with open(args.keys, "rb") as f:
            self.keys = orjson.loads(f.read())
        self.base = datetime.now(UTC) - timedelta(hours=1)
        self.offset_ms = {k["machine"]: 0 for k in self.keys}
        self.session: aiohttp.ClientSession | None = None
        self.next_key = 0

    def body(self, key: dict, n: int) -> bytes:
        machine = key["machine"]
        start = self.offset_ms[machine]
        self.offset_ms[machine] = start + n
        readings = [
            {
                "machineId": machine,
                "timestamp": (self.base + timedelta(milliseconds=start + i))
                .isoformat()
                .replace("+00:00", "Z"),
                "status": "online",
                "temperature": 21.5 + (i % 7) * 0.1,
                "humidity": 40.0,
                "bunkers": [],
                "errors": [],
                "uptime": 3600 + i,
            }
            for i in range(n)
        ]
        return orjson.dumps(readings[0] if n == 1 else readings)

    async def cmd_run(self, command: dict) -> dict:
        if self.session is None:
            connector = aiohttp.TCPConnector(limit=0, force_close=False)
            self.session = aiohttp.ClientSession(connector=connector)
        batch, conc = int(command["batch"]), int(command["concurrency"])
        duration = float(command["duration"])
        keys = [self.keys[(self.next_key + i) % len(self.keys)] for i in range(conc)]
        self.next_key += conc
        stats = {"requests": 0, "accepted": 0, "duplicates": 0, "errors": 0}
        latencies: list[float] = []
        statuses: dict[str, int] = {}
        cpu0 = cpu_seconds(os.getpid())
        t0 = time.monotonic()
        deadline = t0 + duration

        async def device(key: dict) -> None:
            headers = {"Authorization": f"Device {key['key']}", "Content-Type": "application/json"}
            while time.monotonic() < deadline:
                body = self.body(key, batch)
                r0 = time.monotonic()
                try:
                    async with self.session.post(self.url, data=body, headers=headers) as resp:
                        payload = await resp.read()
                        code = resp.status
                except aiohttp.ClientError as exc:
                    stats["errors"] += 1
                    statuses[type(exc).__name__] = statuses.get(type(exc).__name__, 0) + 1
                    await asyncio.sleep(0.05)
                    continue
                latencies.append(time.monotonic() - r0)
                stats["requests"] += 1
                statuses[str(code)] = statuses.get(str(code), 0) + 1
                if code in (200, 201):
                    result = orjson.loads(payload)
                    stats["accepted"] += result.get("accepted", 0)
                    stats["duplicates"] += result.get("duplicates", 0)
                else:
                    stats["errors"] += 1

        await asyncio.gather(*(device(k) for k in keys))
        elapsed = time.monotonic() - t0
        return {
            **stats,
            "seconds": round(elapsed, 3),
            "statuses": statuses,
            "readings_per_s": round(stats["accepted"] / elapsed, 1),
            "requests_per_s": round(stats["requests"] / elapsed, 1),
            "p50_ms": round((percentile(latencies, 50) or 0) * 1000, 2),
            "p99_ms": round((percentile(latencies, 99) or 0) * 1000, 2),
            "cpu_s": round(cpu_seconds(os.getpid()) - cpu0, 3),
        }


    async def cmd_paced(self, command: dict) -> dict:
        """One device (the first key) POSTs one reading every 1/`rate` s for `duration` s,
        open loop, each stamped with the wall clock at sending (microseconds): a dashboard's
        probe subtracts it from its own wall clock when the reading's `machine:telemetry`
        arrives (one clock for every process on the machine)."""
        if self.session is None:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        key = self.keys[0]
        headers = {"Authorization": f"Device {key['key']}", "Content-Type": "application/json"}
        rate, duration = float(command["rate"]), float(command["duration"])
        count = max(1, int(rate * duration))
        statuses: dict[str, int] = {}
        latencies: list[float] = []
        in_flight: set[asyncio.Task] = set()

        async def post(number: int) -> None:
            body = orjson.dumps({
                "machineId": key["machine"],
                "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "status": "online", "temperature": 21.5, "humidity": 40.0,
                "bunkers": [], "errors": [], "uptime": 3600 + number,
            })
            r0 = time.monotonic()
            try:
                async with self.session.post(self.url, data=body, headers=headers) as resp:
                    await resp.read()
                    code = str(resp.status)
            except aiohttp.ClientError as exc:
                code = type(exc).__name__
            latencies.append(time.monotonic() - r0)
            statuses[code] = statuses.get(code, 0) + 1

        t0 = time.monotonic() + 0.02
        for number in range(count):
            due = t0 + number / rate
            now = time.monotonic()
            if due > now:
                await asyncio.sleep(due - now)
            task = asyncio.create_task(post(number))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        if in_flight:
            await asyncio.wait(in_flight, timeout=30)
        return {
            "sent": count,
            "statuses": statuses,
            "seconds": round(time.monotonic() - t0, 3),
            "http_p50_ms": round((percentile(latencies, 50) or 0) * 1000, 2),
            "http_p99_ms": round((percentile(latencies, 99) or 0) * 1000, 2),
        }


async def main(args) -> None:
    ingest = Ingest(args)
    try:
        await serve({"run": ingest.cmd_run, "paced": ingest.cmd_paced})
    finally:
        if ingest.session is not None:
            await ingest.session.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--keys", required=True, help="JSON list of {machine, key}")
    args = parser.parse_args()
    install_fast_loop()
    asyncio.run(main(args))
