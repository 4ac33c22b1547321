"""The control loop of a generator process: one JSON command per stdin line, one JSON reply
per stdout line. `{"cmd": "quit"}` (or stdin closing) ends the process."""

from __future__ import annotations

import asyncio
import os
import sys
import traceback
from collections.abc import Awaitable, Callable

import orjson

Handler = Callable[[dict], Awaitable[dict]]


def install_fast_loop() -> str:
    """uvloop when installed: generators must not be the bottleneck."""
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


async def serve(handlers: dict[str, Handler]) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = os.fdopen(sys.stdout.fileno(), "wb", buffering=0, closefd=False)
    while True:
        line = await reader.readline()
        if not line:
            return
        try:
            command = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        name = command.get("cmd")
        if name == "quit":
            return
        handler = handlers.get(name)
        try:
            if handler is None:
                raise ValueError(f"unknown command {name!r}")
            reply = await handler(command)
        except Exception as exc:  # reported to the harness, which decides
            traceback.print_exc()
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(orjson.dumps(reply, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    index = min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))
    return values[index]
