"""Reference: a raw ASGI app that stores each websocket's `send` callable and awaits them in
turn for every frame arriving on /pub. Run under uvicorn or daphne:
`uvicorn bench.refs.asgi_fanout:app --ws websockets-sansio`."""

from __future__ import annotations

import orjson

clients: set = set()


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "websocket":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    if scope["path"] == "/pub":
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            frame = {"type": "websocket.send", "text": message.get("text")}
            for client_send in tuple(clients):
                await client_send(frame)
    clients.add(send)
    try:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            room = orjson.loads(message.get("text") or message.get("bytes")).get("subscribe")
            await send(
                {"type": "websocket.send", "text": orjson.dumps({"subscribed": room}).decode()}
            )
    finally:
        clients.discard(send)
