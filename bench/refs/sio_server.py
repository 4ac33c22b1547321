"""Reference: a bare python-socketio AsyncServer (ASGI) whose publisher emits to a room
through AsyncRedisManager. `subscribe` joins the room and acks like the product.

    BENCH_REDIS_URL=redis://… uvicorn bench.refs.sio_server:app --ws websockets-sansio
"""

from __future__ import annotations

import os

import socketio

manager = socketio.AsyncRedisManager(
    os.environ["BENCH_REDIS_URL"], channel=os.environ.get("BENCH_PREFIX", "bench-sio")
)
sio = socketio.AsyncServer(
    async_mode="asgi",
    client_manager=manager,
    cors_allowed_origins="*",
    transports=["websocket", "polling"],
)


@sio.event
async def connect(sid, environ, auth):
    return True


@sio.on("subscribe")
async def subscribe(sid, data):
    room = data.get("room") if isinstance(data, dict) else None
    await sio.enter_room(sid, room)
    return {"event": "subscribed", "data": {"room": room}}


app = socketio.ASGIApp(sio)
