"""Open-loop publisher: `rate` events per second for `duration` seconds, each carrying its
sequence number and send time (`time.monotonic()`, one clock for every local process).

Modes (how each server is meant to be fed from another process):
  project   realtime.broadcast.apublish(map_room(org), "machine:status", payload) via Redis
  channels  channels_redis group_send to the textbook consumers' group
  sio       python-socketio AsyncRedisManager(write_only=True).emit(..., room=...)
  ws        a websocket to the reference's /pub endpoint; the server fans each frame out

Sends are issued on schedule; a send that starts late is counted in `lag_*`; a step whose
publisher fell behind is invalid (the harness checks `late_ratio`).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import time
import uuid

import orjson

from ..procs import cpu_seconds
from .control import install_fast_loop, serve

EVENT = "machine:status"


def telemetry_payload(machine_id: str, bunker_ids: list[str]) -> dict:
    """~600 bytes of machine status, like the product's `machine:status` event."""
    return {
        "v": 1,
        "seq": "0000000000",
        "t": "0.000000",
        "machineId": machine_id,
        "serialNumber": "SN-BENCH-0001",
        "status": "online",
        "latitude": 41.2995,
        "longitude": 69.2401,
        "temperature": 21.5,
        "humidity": 40.2,
        "uptimeSeconds": 86400,
        "bunkers": [
            {"bunkerId": b, "ingredient": name, "currentLevel": 640, "capacity": 1000, "low": False}
            for b, name in zip(bunker_ids, ["Coffee", "Milk powder", "Sugar"], strict=False)
        ],
    }


class Publisher:
    def __init__(self, args) -> None:
        self.args = args
        self.seq = 0
        self.send = None
        self.payload = telemetry_payload(
            args.machine or str(uuid.uuid4()), [str(uuid.uuid4()) for _ in range(3)]
        )

    async def setup(self) -> None:
        mode, args = self.args.mode, self.args
        if mode == "project":
            import django

            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vendhub.settings")
            django.setup()
            from realtime.broadcast import apublish

            if args.rooms_file:
                with open(args.rooms_file, "rb") as f:
                    rooms = orjson.loads(f.read())
                cycle = itertools.cycle(rooms)

                async def send(payload):
                    await apublish(next(cycle), EVENT, payload)
            else:

                async def send(payload):
                    await apublish(args.room, EVENT, payload)
        elif mode == "channels":
            from channels_redis.core import RedisChannelLayer

            layer = RedisChannelLayer(hosts=[args.redis], prefix=args.prefix)

            async def send(payload):
                await layer.group_send(args.room, {"type": "bench.status", "payload": payload})
        elif mode == "sio":
            import socketio

            manager = socketio.AsyncRedisManager(args.redis, channel=args.prefix, write_only=True)

            async def send(payload):
                await manager.emit(EVENT, payload, room=args.room, namespace="/")
        elif mode == "ws":
            import websockets

            ws = await websockets.connect(
                f"ws://127.0.0.1:{args.port}/pub",
                max_size=None,
                ping_interval=None,
                compression=None,
            )

            async def send(payload):
                await ws.send("42" + orjson.dumps([EVENT, payload]).decode())
        else:
            raise ValueError(mode)
        self.send = send

    def next_payload(self) -> dict:
        payload = dict(self.payload)
        payload["seq"] = f"{self.seq:010d}"
        payload["t"] = f"{time.monotonic():.6f}"
        self.seq += 1
        return payload

    async def cmd_run(self, command: dict) -> dict:
        if self.send is None:
            await self.setup()
        rate = float(command["rate"])
        count = max(1, int(rate * float(command["duration"])))
        send = self.send
        cpu0 = cpu_seconds(os.getpid())
        t0 = time.monotonic() + 0.02
        late = 0
        lag_max = 0.0
        first_seq = self.seq
        for i in range(count):
            due = t0 + i / rate
            now = time.monotonic()
            if due > now:
                await asyncio.sleep(due - now)
            elif now - due > 0.010:
                late += 1
                lag_max = max(lag_max, now - due)
            await send(self.next_payload())
        elapsed = time.monotonic() - t0
        return {
            "sent": count,
            "t0": t0,
            "first_seq": first_seq,
            "published_total": self.seq,
            "seconds": round(elapsed, 4),
            "rate": round(count / elapsed, 2),
            "late_ratio": round(late / count, 4),
            "lag_max_ms": round(lag_max * 1000, 2),
            "cpu_s": round(cpu_seconds(os.getpid()) - cpu0, 3),
            "payload_bytes": len(orjson.dumps(self.next_payload_peek())),
        }

    def next_payload_peek(self) -> dict:
        payload = dict(self.payload)
        payload["seq"] = f"{self.seq:010d}"
        payload["t"] = f"{time.monotonic():.6f}"
        return payload

    async def cmd_warm(self, command: dict) -> dict:
        if self.send is None:
            await self.setup()
        return {"ok": True}


async def main(args) -> None:
    publisher = Publisher(args)
    await serve({"run": publisher.cmd_run, "warm": publisher.cmd_warm})


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["project", "channels", "sio", "ws"], required=True)
    parser.add_argument("--room", default="machines:all")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rooms-file", default="", help="project: cycle through these rooms")
    parser.add_argument("--redis", default="")
    parser.add_argument("--prefix", default="bench")
    parser.add_argument("--machine", default="")
    args = parser.parse_args()
    install_fast_loop()
    asyncio.run(main(args))
