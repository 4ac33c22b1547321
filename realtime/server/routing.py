"""ASGI routing of the server (generic layer): a Socket.IO server over given namespaces and
its Engine.IO endpoints; which namespaces and endpoints an application has is the product's
(realtime/routing.py)."""

from __future__ import annotations

from asgiref.sync import markcoroutinefunction
from django.urls import path

from .conf import RealtimeConfig
from .engine.consumers import PollingConsumer, WebSocketConsumer
from .engine.server import EngineServer
from .sio import Namespace, SocketIOConnection


def socketio_server(config: RealtimeConfig, namespaces: dict[str, Namespace]) -> EngineServer:
    return EngineServer(
        config=config, handler_factory=lambda session: SocketIOConnection(session, namespaces)
    )


class ProtocolRouter:
    """The application by ASGI scope type ("http", "websocket", "lifespan"): channels'
    ProtocolTypeRouter without its coroutine. That one awaits the routed application in a
    frame of its own, which every open websocket keeps for its whole life (~0.24 KB of an
    idle connection, tracemalloc); this one returns the routed application's awaitable.
    Marked as a coroutine function, so that uvicorn and daphne (asgiref) take it for the
    single-callable ASGI 3 application it is."""

    def __init__(self, applications: dict) -> None:
        self.applications = applications

    @markcoroutinefunction
    def __call__(self, scope, receive, send):
        application = self.applications.get(scope["type"])
        if application is None:
            raise ValueError(f"No application configured for scope type {scope['type']!r}")
        return application(scope, receive, send)


class WebSocketPaths:
    """The websocket endpoints, by exact path (`/socket.io/`...): what Channels' URLRouter
    does for these routes, without its copy of the scope and its coroutine, which every open
    websocket keeps for its whole life (idle memory per connection). An unknown path
    raises the same ValueError as URLRouter."""

    def __init__(self, routes: list) -> None:
        #: `path()` routes of `endpoints`: "/socket.io/" -> the consumer.
        self.routes = {"/" + str(route.pattern): route.callback for route in routes}

    def __call__(self, scope, receive, send):
        # Not a coroutine function: the caller (ProtocolTypeRouter) awaits the consumer's.
        path = scope.get("path")
        if path is None:
            raise ValueError("No 'path' key in connection scope, cannot route URLs")
        root_path = scope.get("root_path", "")
        if root_path:
            if not path.startswith(root_path):
                raise ValueError(f"No route found for path {path!r}.")
            path = path[len(root_path):]
        application = self.routes.get("/" + path.lstrip("/"))
        if application is None:
            raise ValueError(f"No route found for path {path!r}.")
        return application(scope, receive, send)


def endpoints(prefix: str, server: EngineServer) -> tuple[list, list]:
    """(http routes, websocket routes) of one Engine.IO endpoint."""
    return (
        [path(f"{prefix}/", PollingConsumer.as_asgi(server=server))],
        [path(f"{prefix}/", WebSocketConsumer.as_asgi(server=server))],
    )
