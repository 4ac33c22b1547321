"""ASGI routing (product layer): the gateway's endpoints in front of Django, with the
product's namespaces (or the conformance profile's)."""

from __future__ import annotations

from channels.routing import URLRouter
from django.urls import re_path

from .server.conf import realtime_config
from .server.drain import DrainOnSigterm
from .server.engine.server import EngineServer
from .server.routing import ProtocolRouter, WebSocketPaths, endpoints, socketio_server


def build_application(django_asgi_app, *, profile: str = "product"):
    config = realtime_config()
    if profile == "product":
        from .namespaces import product_namespaces

        gateway = socketio_server(config, product_namespaces())
        http, websocket = endpoints("socket.io", gateway)
    elif profile == "conformance":
        from .server.conformance import CONFORMANCE_CONFIG, EchoHandler, conformance_namespaces

        gateway = socketio_server(CONFORMANCE_CONFIG, conformance_namespaces())
        echo = EngineServer(config=CONFORMANCE_CONFIG, handler_factory=EchoHandler)
        http, websocket = endpoints("socket.io", gateway)
        echo_http, echo_websocket = endpoints("engine.io", echo)
        http += echo_http
        websocket += echo_websocket
    else:
        raise ValueError(f"unknown realtime profile {profile!r}")
    application = ProtocolRouter({
        "http": URLRouter([*http, re_path(r"", django_asgi_app)]),
        "websocket": WebSocketPaths(websocket),
        # Under uvicorn, SIGTERM drains the gateway before the server shuts down.
        "lifespan": DrainOnSigterm([gateway], delay=config.drain_delay_ms / 1000),
    })
    application.gateway = gateway
    return application
