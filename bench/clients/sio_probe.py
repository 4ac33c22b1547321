"""Device-to-dashboard latency: a dashboard socket (Engine.IO v4 / Socket.IO v5 over a raw
websocket, authenticated with a JWT as README's `io(url, {auth: {token}})`) subscribed to
`machine:{id}` of a few machines, while those machines send one reading at a time at a
fixed rate, over MQTT (their device connections in bench/clients/mqtt_devices.py) or
`POST /api/v1/telemetry/` (their device keys). Each reading is timed from the moment it is
written to the transport until the `machine:telemetry` event carrying its timestamp reaches
the socket: one process, one clock.

A reading whose event never comes (two readings of one machine stored in one batch: the
event of the first already shows the second) counts as unmatched, not as a latency.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime

import aiohttp
import orjson

from . import mqtt_wire
from .control import percentile
from .wire import FrameParser, text, upgrade_request


class Dashboard:
    """One Socket.IO connection to the product server."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port, self.token = host, port, token
        self.parser = FrameParser()
        self.frames: asyncio.Queue[str] = asyncio.Queue()
        self.on_event = None  # callable(name, data)
        self.acks: dict[int, asyncio.Future] = {}
        self.reader_task: asyncio.Task | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(upgrade_request(self.host, self.port,
                                          "/socket.io/?EIO=4&transport=websocket"))
        head = await self.reader.readuntil(b"\r\n\r\n")
        if b" 101" not in head[:16]:
            raise ConnectionError(f"upgrade refused: {head[:60]!r}")
        self.reader_task = asyncio.create_task(self.read_forever())
        opened = await asyncio.wait_for(self.frames.get(), 10)
        assert opened.startswith("0"), opened
        self.writer.write(text("40" + json.dumps({"token": self.token})))
        answer = await asyncio.wait_for(self.frames.get(), 10)
        if not answer.startswith("40"):
            raise ConnectionError(f"namespace refused: {answer[:200]}")

    async def read_forever(self) -> None:
        while data := await self.reader.read(65536):
            for opcode, payload in self.parser.feed(data):
                if opcode != 0x1:
                    continue
                frame = payload.decode()
                if frame == "2":
                    self.writer.write(text("3"))
                elif frame.startswith("43"):
                    digits = len(frame) - len(frame[2:].lstrip("0123456789"))
                    future = self.acks.pop(int(frame[2:digits]), None)
                    if future is not None and not future.done():
                        future.set_result(json.loads(frame[digits:]))
                elif frame.startswith("42") and self.on_event is not None:
                    packet = orjson.loads(frame[2:])
                    self.on_event(packet[0], packet[1] if len(packet) > 1 else None)
                else:
                    self.frames.put_nowait(frame)

    async def subscribe(self, room: str, ack_id: int) -> dict:
        future = asyncio.get_running_loop().create_future()
        self.acks[ack_id] = future
        self.writer.write(text(f"42{ack_id}" + json.dumps(["subscribe", {"room": room}])))
        return (await asyncio.wait_for(future, 10))[0]

    def close(self) -> None:
        if self.reader_task is not None:
            self.reader_task.cancel()
        self.writer.close()


async def measure_latency(fleet, devices: dict, command: dict) -> dict:
    """`command`: host, port (the product server; `post_port` for the readings when
    another process), token, machines (ids), rate (readings a
    second, all machines together), seconds, transport (`mqtt` | `http`)."""
    machines = list(command["machines"])
    rate, seconds, transport = float(command["rate"]), float(command["seconds"]), \
        command["transport"]
    sent: dict[tuple[str, datetime], float] = {}
    latencies: list[float] = []
    statuses: dict[str, int] = {}

    def on_event(name: str, data) -> None:
        if name != "machine:telemetry" or not data or not data.get("timestamp"):
            return
        key = (data["machineId"], datetime.fromisoformat(data["timestamp"]))
        at = sent.pop(key, None)
        if at is not None:
            latencies.append(time.monotonic() - at)

    dashboard = Dashboard(command["host"], int(command["port"]), command["token"])
    await dashboard.connect()
    dashboard.on_event = on_event
    for n, machine in enumerate(machines):
        answer = await dashboard.subscribe(f"machine:{machine}", n + 1)
        if answer.get("event") != "subscribed":
            dashboard.close()
            return {"error": f"subscribe machine:{machine}: {answer}"}
        await asyncio.sleep(0.03)  # the gateway takes 50 room requests a second per socket
    keys = {s["machine"]: s["key"] for s in fleet.specs}
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    # `post_port`: the readings may go to another server process than the dashboard's
    post_port = command.get("post_port", command["port"])
    url = f"http://{command['host']}:{post_port}/api/v1/telemetry/"
    posts: set[asyncio.Task] = set()

    async def post(machine: str, body: bytes) -> None:
        headers = {"Authorization": f"Device {keys[machine]}", "Content-Type": "application/json"}
        try:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                code = str(response.status)
        except aiohttp.ClientError as exc:
            code = type(exc).__name__
        statuses[code] = statuses.get(code, 0) + 1

    t0 = time.monotonic()
    count = 0
    try:
        while (now := time.monotonic()) < t0 + seconds:
            while count < int((now - t0) * rate):
                machine = machines[count % len(machines)]
                reading = fleet.readings(machine, 1)
                key = (machine, datetime.fromisoformat(reading["timestamp"]))
                body = orjson.dumps(reading)
                sent[key] = time.monotonic()
                if transport == "mqtt":
                    device = devices[machine]
                    device.transport.write(mqtt_wire.publish_packet(
                        device.telemetry_topic, body, next(device.ids)))
                    device.unanswered += 1
                else:
                    task = asyncio.create_task(post(machine, body))
                    posts.add(task)
                    task.add_done_callback(posts.discard)
                count += 1
            await asyncio.sleep(0.002)
        settle = time.monotonic() + 10
        while sent and time.monotonic() < settle:
            await asyncio.sleep(0.05)
        if posts:
            await asyncio.wait(posts, timeout=10)
    finally:
        await session.close()
        dashboard.close()
    elapsed = time.monotonic() - t0
    return {"transport": transport, "machines": len(machines), "rate": rate,
            "sent": count, "matched": len(latencies), "unmatched": len(sent),
            "seconds": round(elapsed, 2), "http_statuses": statuses,
            "p50_ms": round((percentile(latencies, 50) or 0) * 1000, 1),
            "p90_ms": round((percentile(latencies, 90) or 0) * 1000, 1),
            "p99_ms": round((percentile(latencies, 99) or 0) * 1000, 1),
            "max_ms": round(max(latencies, default=0) * 1000, 1)}
