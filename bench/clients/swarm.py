"""Many websocket clients in one process: byte-counting sinks and full-parsing probes.

    python -m bench.clients.swarm --port P --path /socket.io/?EIO=4&transport=websocket \
        --mode sio --plan plan.json --probes 8

`--mode sio` does the real Engine.IO/Socket.IO handshake (open packet, `40{"token":…}`,
`42<id>["subscribe",{"room":…}]` and waits for each ack) and answers pings (`2` → `3`).
`--mode raw` (reference servers) sends `{"subscribe": room}` text frames and waits for one
reply frame each. After the handshake a sink only counts bytes (and spots the 3-byte ping
frame); a probe parses every frame and checks sequence numbers and publish→receive latency
(`seq` and `t` = publisher's time.monotonic(), one clock for every process on the machine).

Commands (stdin JSON lines): connect, snap, reset, storm, subscribe, close.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import datetime

import orjson

from .control import install_fast_loop, percentile, serve
from .wire import CLOSE_FRAME, FrameParser, mask_frame, text, upgrade_request

PING_FRAME = b"\x81\x012"  # Engine.IO "2" as an unmasked server text frame
MAX_LATENCIES = 500_000
SUBSCRIBE_BATCH = 40  # the gateway allows 50 room requests per socket per second


class ConnectFailed(Exception):
    pass


class Stats:
    def __init__(self) -> None:
        self.bytes = 0
        self.last_rx = 0.0
        self.pings = 0
        self.lost_after_ready = 0
        # probes
        self.frames = 0
        self.frame_len = 0
        self.latencies: list[float] = []
        self.out_of_order = 0
        self.other_events = 0


class Conn(asyncio.Protocol):
    def __init__(self, swarm: Swarm, spec: dict, probe: bool) -> None:
        self.swarm = swarm
        self.stats = swarm.stats
        self.spec = spec
        self.probe = probe
        self.sio = swarm.mode == "sio"
        self.state = "http"
        self.http = bytearray()
        self.parser = FrameParser()
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future = asyncio.get_running_loop().create_future()
        self.pending: set = set()
        self.tail = b""
        self.received = 0  # probe: data frames this step
        self.next_seq = -1
        self.t_start = time.monotonic()

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(upgrade_request(self.swarm.host, self.swarm.port, self.swarm.path))

    def connection_lost(self, exc) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectFailed(f"closed during handshake ({self.state})"))
        elif self.state != "closing":
            self.stats.lost_after_ready += 1
        self.state = "closed"

    def data_received(self, data: bytes) -> None:
        if self.state == "count" and not self.probe:
            stats = self.stats
            stats.bytes += len(data)
            stats.last_rx = time.monotonic()
            if self.sio and (PING_FRAME in data or PING_FRAME in self.tail + data[:3]):
                self.pong()
            self.tail = data[-3:]
            return
        if self.state == "http":
            self.http += data
            end = self.http.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.http[:12])
            if b" 101" not in status:
                self.fail(f"upgrade refused: {status!r}")
                return
            data = bytes(self.http[end + 4 :])
            self.http = bytearray()
            self.state = "handshake"
            if not self.sio:
                self.subscribe_raw()
        self.stats.last_rx = time.monotonic()
        if self.probe or self.state == "handshake":
            self.stats.bytes += len(data)
            for opcode, payload in self.parser.feed(data):
                self.on_frame(opcode, payload)
        else:
            self.stats.bytes += len(data)

    # -- frames ----------------------------------------------------------------------

    def fail(self, why: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectFailed(why))
        if self.transport is not None:
            self.transport.abort()

    def pong(self) -> None:
        self.stats.pings += 1
        self.transport.write(text("3"))

    def on_frame(self, opcode: int, payload: bytes) -> None:
        if opcode == 0x9:
            self.transport.write(mask_frame(payload, 0xA))
            return
        if opcode == 0x8:
            self.state = "closing" if self.ready.done() else self.state
            self.fail("server closed the websocket")
            return
        if opcode not in (0x1, 0x2):
            return
        s = payload.decode()
        if self.sio:
            self.on_engineio(s, len(payload))
        elif self.state == "handshake":
            if self.pending:
                self.pending.pop()  # one reply frame per subscribe request
            if not self.pending:
                self.become_ready()
        else:
            event = orjson.loads(s[2:]) if s.startswith("42") else [None, orjson.loads(s)]
            body = event[1] if len(event) > 1 else None
            self.on_data(body, len(payload))

    def on_engineio(self, s: str, n: int) -> None:
        if s == "2":
            self.pong()
        elif s.startswith("42"):
            if self.probe and self.state == "count":
                event = orjson.loads(s[2:])
                self.on_data(event[1] if len(event) > 1 else None, n)
        elif s.startswith("43"):
            ack_id, _, body = s[2:].partition("[")
            reply = orjson.loads("[" + body)
            self.pending.discard(int(ack_id))
            if not (reply and isinstance(reply[0], dict) and reply[0].get("event") == "subscribed"):
                self.fail(f"subscribe refused: {s[:200]}")
                return
            if not self.pending:
                self.send_subscribe_batch()
        elif s.startswith("40"):
            self.send_subscribe_batch()
        elif s.startswith("44"):
            self.fail(f"connect refused: {s[:200]}")
        elif s.startswith("0"):
            self.transport.write(
                text("40" + orjson.dumps({"token": self.spec.get("token", "")}).decode())
            )
        elif s.startswith("41") or s == "1":
            self.fail(f"disconnected by the server: {s}")

    def send_subscribe_batch(self) -> None:
        rooms = self.spec.setdefault("_todo", list(self.spec.get("rooms", ())))
        if not rooms:
            self.become_ready()
            return
        batch, self.spec["_todo"] = rooms[:SUBSCRIBE_BATCH], rooms[SUBSCRIBE_BATCH:]
        delay = 0.0 if not self.swarm.sent_batch(self) else 1.05
        loop = asyncio.get_running_loop()
        loop.call_later(delay, self._send_batch, batch)

    def _send_batch(self, batch: list[str]) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        frames = []
        for room in batch:
            ack_id = self.swarm.next_ack()
            self.pending.add(ack_id)
            body = orjson.dumps(["subscribe", {"room": room}]).decode()
            frames.append(text(f"42{ack_id}{body}"))
        self.transport.write(b"".join(frames))

    def subscribe_raw(self) -> None:
        rooms = self.spec.get("rooms", ())
        if not rooms:
            self.become_ready()
            return
        self.pending = set(range(len(rooms)))
        self.transport.write(b"".join(mask_frame(orjson.dumps({"subscribe": r})) for r in rooms))

    def become_ready(self) -> None:
        self.state = "count"
        if not self.ready.done():
            self.ready.set_result(time.monotonic() - self.t_start)

    def on_data(self, payload, n: int) -> None:
        """A data frame: only the publisher's events (with `seq`) count; other events the
        server may send (snapshots, `resync`, ...) are ignored."""
        if not isinstance(payload, dict) or "seq" not in payload:
            if self.swarm.wall_latency and isinstance(payload, dict) and payload.get("timestamp"):
                self.on_stamped(payload["timestamp"])
                return
            self.stats.other_events += 1
            return
        stats = self.stats
        now = time.monotonic()
        seq = int(payload["seq"])
        if seq <= self.next_seq:
            stats.out_of_order += 1
        self.next_seq = seq
        self.received += 1
        stats.frames += 1
        stats.frame_len = n + (2 if n < 126 else 4 if n < 65536 else 10)
        if len(stats.latencies) < MAX_LATENCIES:
            stats.latencies.append(now - float(payload["t"]))


    def on_stamped(self, stamp: str) -> None:
        """`--wall-latency`: an event stamped with the wall clock when its cause was sent
        (a device's reading, `timestamp`): latency from that stamp."""
        stats = self.stats
        self.received += 1
        stats.frames += 1
        if len(stats.latencies) < MAX_LATENCIES:
            sent = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
            stats.latencies.append(time.time() - sent)


class Swarm:
    def __init__(self, args) -> None:
        self.host = "127.0.0.1"
        self.port = args.port
        self.path = args.path
        self.mode = args.mode
        with open(args.plan, "rb") as f:
            plan = orjson.loads(f.read())
        self.specs: list[dict] = plan[args.offset : args.offset + args.count]
        self.nprobes = args.probes
        self.wall_latency = args.wall_latency
        self.stats = Stats()
        self.conns: list[Conn] = []
        self._ack = 0
        self._batched: set[int] = set()

    def next_ack(self) -> int:
        self._ack = (self._ack + 1) % 1_000_000_000
        return self._ack

    def sent_batch(self, conn: Conn) -> bool:
        """True when this connection already sent a batch (so the next one waits)."""
        key = id(conn)
        seen = key in self._batched
        self._batched.add(key)
        return seen

    async def open_one(self, spec: dict, probe: bool, timeout: float) -> Conn:
        loop = asyncio.get_running_loop()
        conn = Conn(self, dict(spec), probe)
        await asyncio.wait_for(loop.create_connection(lambda: conn, self.host, self.port), timeout)
        await asyncio.wait_for(conn.ready, timeout)
        return conn

    async def open_all(self, inflight: int, timeout: float, budget: float | None = None) -> dict:
        """Open every planned connection, `inflight` at a time; none starts after `budget`
        seconds (those are reported as `skipped`)."""
        sem = asyncio.Semaphore(inflight)
        errors: dict[str, int] = {}
        durations: list[float] = []
        conns: list[Conn] = []
        skipped = 0
        stop_at = time.monotonic() + budget if budget else float("inf")

        async def one(i: int, spec: dict) -> None:
            nonlocal skipped
            async with sem:
                t0 = time.monotonic()
                if t0 > stop_at:
                    skipped += 1
                    return
                try:
                    conn = await self.open_one(spec, i < self.nprobes, timeout)
                except (TimeoutError, OSError, ConnectFailed) as exc:
                    key = f"{type(exc).__name__}: {str(exc)[:120]}"
                    errors[key] = errors.get(key, 0) + 1
                    return
                durations.append(time.monotonic() - t0)
                conns.append(conn)

        t0 = time.monotonic()
        await asyncio.gather(*(one(i, s) for i, s in enumerate(self.specs)))
        self.conns = conns
        self._batched.clear()
        return {
            "connected": len(conns),
            "failed": sum(errors.values()),
            "skipped": skipped,
            "errors": errors,
            "seconds": round(time.monotonic() - t0, 3),
            "connect_p50_ms": _ms(percentile(durations, 50)),
            "connect_p99_ms": _ms(percentile(durations, 99)),
        }

    # -- commands --------------------------------------------------------------------

    async def cmd_connect(self, command: dict) -> dict:
        return await self.open_all(
            command.get("inflight", 200), command.get("timeout", 60), command.get("budget")
        )

    async def cmd_reset(self, command: dict) -> dict:
        stats = self.stats
        stats.frames = 0
        stats.latencies = []
        stats.out_of_order = 0
        for conn in self.conns:
            conn.received = 0
        return {"ok": True}

    async def cmd_snap(self, command: dict) -> dict:
        stats = self.stats
        reply = {
            "bytes": stats.bytes,
            "last_rx": stats.last_rx,
            "pings": stats.pings,
            "open": sum(1 for c in self.conns if c.state == "count"),
            "lost_after_ready": stats.lost_after_ready,
        }
        if self.nprobes:
            published = command.get("published")
            lat = stats.latencies
            reply.update(
                {
                    "frames": stats.frames,
                    "frame_len": stats.frame_len,
                    "lat_p50_ms": _ms(percentile(lat, 50)),
                    "lat_p99_ms": _ms(percentile(lat, 99)),
                    "lat_max_ms": _ms(max(lat) if lat else None),
                    "out_of_order": stats.out_of_order,
                    "other_events": stats.other_events,
                    "probes": sum(1 for c in self.conns if c.probe),
                }
            )
            if published is not None:
                reply["missing"] = sum(
                    max(0, published - c.received) for c in self.conns if c.probe
                )
        return reply

    async def cmd_storm(self, command: dict) -> dict:
        """Drop every connection at once, then reconnect them all (same plan)."""
        for conn in self.conns:
            conn.state = "closing"
            if conn.transport is not None:
                conn.transport.abort()
        self.conns = []
        await asyncio.sleep(command.get("pause", 0.0))
        return await self.open_all(
            command.get("inflight", 1000), command.get("timeout", 30), command.get("budget")
        )

    async def cmd_subscribe(self, command: dict) -> dict:
        """Every open sio connection subscribes to `room` at once (one request each); the
        reply comes when every ack arrived (a refusal or a closed connection is a failure)
        or after `timeout` seconds."""
        room = command["room"]
        t0 = time.monotonic()
        waiting = []
        for conn in self.conns:
            if conn.state != "count" or not conn.sio:
                continue
            conn.state = "handshake"  # parse frames again until the ack
            conn.ready = asyncio.get_running_loop().create_future()
            conn.t_start = t0
            conn.spec["_todo"] = []
            conn._send_batch([room])
            waiting.append(conn.ready)
        done, pending = await asyncio.wait(waiting, timeout=command.get("timeout", 30))
        errors: dict[str, int] = {}
        durations = []
        for future in done:
            if future.exception() is not None:
                key = str(future.exception())[:120]
                errors[key] = errors.get(key, 0) + 1
            else:
                durations.append(future.result())
        if pending:
            errors["no ack in time"] = len(pending)
        return {
            "subscribed": len(durations),
            "failed": sum(errors.values()),
            "errors": errors,
            "seconds": round(max(durations, default=0.0), 3),
            "ack_p50_ms": _ms(percentile(durations, 50)),
            "ack_p99_ms": _ms(percentile(durations, 99)),
        }

    async def cmd_close(self, command: dict) -> dict:
        for conn in self.conns:
            conn.state = "closing"
            if conn.transport is not None and not conn.transport.is_closing():
                conn.transport.write(CLOSE_FRAME)
                conn.transport.close()
        n = len(self.conns)
        self.conns = []
        await asyncio.sleep(0.2)
        return {"closed": n}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


async def main(args) -> None:
    swarm = Swarm(args)
    await serve(
        {
            "connect": swarm.cmd_connect,
            "snap": swarm.cmd_snap,
            "reset": swarm.cmd_reset,
            "storm": swarm.cmd_storm,
            "subscribe": swarm.cmd_subscribe,
            "close": swarm.cmd_close,
        }
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--mode", choices=["sio", "raw"], required=True)
    parser.add_argument("--plan", required=True, help="JSON list of {token, rooms}")
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--count", type=int, default=10**9)
    parser.add_argument("--probes", type=int, default=0, help="the first N are probes")
    parser.add_argument("--wall-latency", action="store_true",
                        help="probes: latency of events from their wall-clock `timestamp`")
    args = parser.parse_args()
    install_fast_loop()
    asyncio.run(main(args))
