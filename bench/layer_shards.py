"""Redis CPU per event of the channel layer, on one shard and on two: what README's "Sharding
the channel layer" divides a Redis core by.

    .venv/bin/python -m bench.layer_shards [--seconds 8] [--processes 1,3,10] [--rooms 200]

Private `redis-server`s on free ports (no persistence), channels_redis configured as
vendhub/settings.py configures it (one host per shard). `processes` listeners stand for the
server processes: each its own RedisChannelLayer with one channel (realtime/server/hub.py),
in the group of every room. A publisher sends a ~600-byte frame to the rooms in turn
(group_send, as realtime/broadcast.py does) at `rate` events/s for `seconds`; the listeners
drain their channels. Redis CPU per event = the delta of each shard's time in commands
(`INFO commandstats` usec) over the events sent: the Python side shares this machine's cores
and limits the rate, so the figure to scale by is Redis's own time per event, not the rate
reached here. One JSON line per run on stdout. The history's
XADD (one per event, on REDIS_URL, not on the layer's shards) is timed the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import redis.asyncio as aioredis
from channels_redis.core import RedisChannelLayer

from vendhub.cluster_processes import Process, free_port, wait_until
from vendhub.cluster_redis import client as redis_client

FRAME = "42" + '["machine:telemetry",{"x":"' + "x" * 560 + '"}]'


async def redis_cpu(url: str) -> float:
    """Seconds Redis spent executing commands (INFO commandstats `usec`, summed): its own
    measure, without the event loop's idle work or this shared machine's noise."""
    client = aioredis.from_url(url)
    try:
        info = await client.info("commandstats")
    finally:
        await client.aclose()
    return sum(stats["usec"] for stats in info.values()) / 1e6


async def drain(layer: RedisChannelLayer, channel: str, counter: list[int]) -> None:
    while True:
        await layer.receive(channel)
        counter[0] += 1


async def layer_run(urls: list[str], *, processes: int, rooms: int, seconds: float,
                    rate: float) -> dict:
    hosts = [{"address": url} for url in urls]
    prefix = f"bench{time.monotonic_ns()}"
    listeners = [RedisChannelLayer(hosts=hosts, prefix=prefix, capacity=100_000)
                 for _ in range(processes)]
    publisher = RedisChannelLayer(hosts=hosts, prefix=prefix, capacity=100_000)
    groups = [f"rt.machine.bench-{n}" for n in range(rooms)]
    received = [0]
    tasks = []
    for layer in listeners:
        channel = await layer.new_channel("rt.process.")
        for group in groups:
            await layer.group_add(group, channel)
        tasks.append(asyncio.create_task(drain(layer, channel, received)))
    before = [await redis_cpu(url) for url in urls]
    sent = 0
    started = time.monotonic()
    # Open loop at `rate`: the listeners keep up, as the hub does below its knee (a backlog
    # in the channels would make each ZADD dearer and inflate the figure).
    for group in itertools.islice(itertools.cycle(groups), int(rate * seconds)):
        await publisher.group_send(group, {"type": "rt.frame", "frame": FRAME})
        sent += 1
        ahead = started + sent / rate - time.monotonic()
        if ahead > 0:
            await asyncio.sleep(ahead)
    elapsed = time.monotonic() - started
    await asyncio.sleep(1)  # the listeners drain what is queued
    cpu = [await redis_cpu(url) - start for url, start in zip(urls, before, strict=True)]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for layer in [*listeners, publisher]:
        await layer.flush()
        await layer.close_pools()
    return {"shards": len(urls), "processes": processes, "events": sent,
            "events_per_s": round(sent / elapsed), "delivered": received[0],
            "redis_us_per_event": [round(c * 1e6 / sent, 1) for c in cpu]}


async def history_run(url: str, *, seconds: float) -> dict:
    client = aioredis.from_url(url)
    before = await redis_cpu(url)
    sent = 0
    deadline = time.monotonic() + seconds

    async def append() -> None:
        nonlocal sent
        while time.monotonic() < deadline:
            await client.xadd("bench:rt:history", {"r": "machine:bench", "b": FRAME[2:]},
                              maxlen=100_000, approximate=True)
            sent += 1

    await asyncio.gather(*(append() for _ in range(8)))
    cpu = await redis_cpu(url) - before
    await client.delete("bench:rt:history")
    await client.aclose()
    return {"history_xadd_per_s": round(sent / seconds),
            "redis_us_per_xadd": round(cpu * 1e6 / sent, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--processes", default="1,3,10")
    parser.add_argument("--rooms", type=int, default=200)
    parser.add_argument("--rate", type=float, default=200.0, help="events/s offered")
    args = parser.parse_args(argv)
    if shutil.which("redis-server") is None:
        print("redis-server is not installed", file=sys.stderr)
        return 1
    directory = Path(tempfile.mkdtemp(prefix="vendhub-layer-shards-"))
    servers, urls = [], []
    try:
        for index in range(2):
            port = free_port()
            servers.append(Process(f"shard{index}", [
                "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(directory)],
                directory / f"shard{index}.log", port=port).start())
            wait_until(lambda port=port: redis_client(port).ping(), timeout=10,
                       what="redis-server", process=servers[-1])
            urls.append(f"redis://127.0.0.1:{port}/0")
        for processes in (int(p) for p in args.processes.split(",")):
            for shards in (1, 2):
                run = layer_run(urls[:shards], processes=processes, rooms=args.rooms,
                                seconds=args.seconds, rate=args.rate)
                print(json.dumps(asyncio.run(run)), flush=True)
        print(json.dumps(asyncio.run(history_run(urls[0], seconds=args.seconds))), flush=True)
    finally:
        for server in servers:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
