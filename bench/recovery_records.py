"""What keeping live sessions' recovery records costs (realtime/server/sio/records.py).

    .venv/bin/python -m bench.recovery_records [--sessions 5000] [--redis redis://127.0.0.1:6379/13]

In process, against a real Redis (keys under a `bench-records-*` prefix, deleted after):
`sessions` sockets of a recoverable namespace connect and subscribe (each marked changed
twice: its connect and its join), then one flush writes them, then one refresh renews their
TTL. Prints the gateway's CPU per connect+subscribe spent on the bookkeeping, the flush's and
the refresh's wall and CPU time per session, and Redis's own microseconds per SET / PEXPIRE
(INFO commandstats).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from types import SimpleNamespace

import django


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vendhub.settings")
    django.setup()


async def measure(sessions: int, url: str) -> dict:
    from realtime.server.conf import RealtimeConfig
    from realtime.server.history import RedisEventHistory
    from realtime.server.sio import records
    from realtime.server.sio.namespace import Namespace, Socket

    class Parked(Namespace):
        recoverable = True

        def park_state(self, socket):
            return {"user_id": 42, "subscriptions": sorted(socket.rooms), "batched": []}

    store = RedisEventHistory(url, prefix=f"bench-records-{uuid.uuid4().hex}")
    records.get_history = lambda: store  # this process's keeper writes to the bench keys
    keeper = records.RecordKeeper(RealtimeConfig())
    namespace = Parked()
    engine = SimpleNamespace(config=RealtimeConfig(), enqueue=lambda frame: True)
    sockets = []
    for n in range(sessions):
        socket = Socket(SimpleNamespace(engine=engine), "/")
        socket.pid, socket.base = uuid.uuid4().hex[:20], "0-0"
        socket.rooms = {f"org:{n % 50}", f"user:{n}"}
        sockets.append(socket)
    before = await store.redis.info("commandstats")  # server-wide: read twice, not reset
    cpu = time.process_time()
    for socket in sockets:
        keeper.track(socket, namespace)  # the connect
        keeper.changed(socket)  # the subscribe
    bookkeeping = time.process_time() - cpu
    keeper._task.cancel()  # flushed by hand below
    wall, cpu = time.perf_counter(), time.process_time()
    written = await keeper.flush(refresh=False)
    flush = (time.perf_counter() - wall, time.process_time() - cpu)
    wall, cpu = time.perf_counter(), time.process_time()
    touched = await keeper.flush(refresh=True)
    refresh = (time.perf_counter() - wall, time.process_time() - cpu)
    after = await store.redis.info("commandstats")
    keys = [key async for key in store.redis.scan_iter(f"{store.prefix}:*", count=1000)]
    for start in range(0, len(keys), 1000):
        await store.redis.delete(*keys[start:start + 1000])
    await store.aclose()
    per = 1e6 / sessions
    return {
        "sessions": sessions, "written": written, "touched": touched,
        "bookkeeping_us_per_connect_subscribe": round(bookkeeping * per, 2),
        "flush_wall_us_per_session": round(flush[0] * per, 1),
        "flush_cpu_us_per_session": round(flush[1] * per, 1),
        "refresh_wall_us_per_session": round(refresh[0] * per, 1),
        "refresh_cpu_us_per_session": round(refresh[1] * per, 1),
        "redis_us_per_set": _per_call(before, after, "set"),
        "redis_us_per_pexpire": _per_call(before, after, "pexpire"),
    }


def _per_call(before: dict, after: dict, command: str) -> float | None:
    old, new = before.get(f"cmdstat_{command}", {}), after.get(f"cmdstat_{command}", {})
    calls = new.get("calls", 0) - old.get("calls", 0)
    return round((new.get("usec", 0) - old.get("usec", 0)) / calls, 2) if calls else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL",
                                                          "redis://127.0.0.1:6379/13"))
    args = parser.parse_args()
    _setup()
    for key, value in asyncio.run(measure(args.sessions, args.redis)).items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
