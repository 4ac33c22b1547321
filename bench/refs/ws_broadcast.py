"""Reference: a bare `websockets` server; the frame from /pub is encoded once and handed to
`websockets.broadcast()`.  python -m bench.refs.ws_broadcast --port P [--loop uvloop]"""

from __future__ import annotations

import argparse
import asyncio

import orjson
from websockets.asyncio.server import broadcast, serve

clients: set = set()


async def handler(ws) -> None:
    if ws.request.path == "/pub":
        async for frame in ws:
            broadcast(clients, frame)
        return
    clients.add(ws)
    try:
        async for message in ws:  # {"subscribe": room}: one room here, acknowledged
            room = orjson.loads(message).get("subscribe")
            await ws.send(orjson.dumps({"subscribed": room}).decode())
    finally:
        clients.discard(ws)


async def main(port: int) -> None:
    async with serve(
        handler,
        "127.0.0.1",
        port,
        ping_interval=None,
        compression=None,
        max_size=2**20,
        backlog=4096,
    ) as server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", default="asyncio", choices=["asyncio", "uvloop"])
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(main(args.port))
    else:
        asyncio.run(main(args.port))
