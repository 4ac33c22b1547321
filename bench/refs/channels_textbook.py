"""Reference: the textbook Channels consumer. Each socket has its own channel, joins a
channels_redis group per room, and the group message goes handler → json.dumps → send.

    BENCH_REDIS_URL=redis://… uvicorn bench.refs.channels_textbook:application
"""

from __future__ import annotations

import json
import os

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-reference-only",
        INSTALLED_APPS=["channels"],
        DATABASES={},
        CHANNEL_LAYERS={
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {
                    "hosts": [os.environ["BENCH_REDIS_URL"]],
                    "prefix": os.environ.get("BENCH_PREFIX", "bench-ch"),
                },
            }
        },
    )
    django.setup()

from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402


def group_of(room: str) -> str:
    return room.replace(":", ".")


class TelemetryConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.joined = []
        await self.accept()

    async def receive_json(self, content):
        room = content.get("subscribe")
        group = group_of(room)
        await self.channel_layer.group_add(group, self.channel_name)
        self.joined.append(group)
        await self.send_json({"subscribed": room})

    async def disconnect(self, code):
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def bench_status(self, event):
        await self.send(text_data=json.dumps(event["payload"]))


application = ProtocolTypeRouter(
    {
        "websocket": URLRouter([re_path(r"", TelemetryConsumer.as_asgi())]),
    }
)
