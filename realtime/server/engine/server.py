"""An Engine.IO endpoint: its configuration, its sessions and request validation."""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from urllib.parse import parse_qs

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from .. import metrics
from ..conf import RealtimeConfig
from ..protocol.socketio_decoder import ByteBudget
from .memory import process_sweeper
from .session import EngineSession, SessionHandler, Transport

logger = logging.getLogger(__name__)


class RequestError(enum.IntEnum):
    """Error codes of the reference server's JSON 400 answers."""

    UNKNOWN_TRANSPORT = 0
    UNKNOWN_SID = 1
    BAD_HANDSHAKE_METHOD = 2
    BAD_REQUEST = 3
    FORBIDDEN = 4
    UNSUPPORTED_PROTOCOL_VERSION = 5

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    RequestError.UNKNOWN_TRANSPORT: "Transport unknown",
    RequestError.UNKNOWN_SID: "Session ID unknown",
    RequestError.BAD_HANDSHAKE_METHOD: "Bad handshake method",
    RequestError.BAD_REQUEST: "Bad request",
    RequestError.FORBIDDEN: "Forbidden",
    RequestError.UNSUPPORTED_PROTOCOL_VERSION: "Unsupported protocol version",
}


def query_params(scope: dict) -> dict[str, str]:
    raw = scope.get("query_string", b"").decode("latin-1")
    return {key: values[0] for key, values in parse_qs(raw, keep_blank_values=True).items()}


def header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class EngineServer:
    """Sessions of one Engine.IO endpoint (e.g. /socket.io/) in this process.

    Sessions live in process memory: a long-polling client must reach the same process on
    every request (sticky sessions), see README "Several processes".
    """

    def __init__(self, *, config: RealtimeConfig,
                 handler_factory: Callable[[EngineSession], SessionHandler]) -> None:
        self.config = config
        self.handler_factory = handler_factory
        self.sessions: dict[str, EngineSession] = {}
        #: Bytes of incomplete binary Socket.IO packets that this endpoint's sessions may
        #: hold together (each session is bounded too, but a process serves thousands).
        self.attachment_budget = ByteBudget(config.max_pending_attachment_bytes)
        #: Returns the memory of closed sessions to the system after a storm.
        self.sweeper = process_sweeper(config.sweep_after_closes)
        #: Set by a drain (realtime/server/drain.py): new sessions are refused.
        self.draining = False
        self._session_headers = frozenset(name.lower().encode("latin-1")
                                          for name in config.session_headers)

    def validate(self, scope: dict, params: dict[str, str],
                 expected: Transport) -> RequestError | None:
        if params.get("EIO") != "4":
            return RequestError.UNSUPPORTED_PROTOCOL_VERSION
        if params.get("transport") != expected.value:
            return RequestError.UNKNOWN_TRANSPORT
        if not self.origin_allowed(header(scope, b"origin"), host=header(scope, b"host")):
            return RequestError.FORBIDDEN
        return None

    def origin_allowed(self, origin: str | None, *, host: str | None = None) -> bool:
        """Whether a browser page of `origin` may open a session: a listed origin (or any,
        with "*"), or the request's own origin, whose host[:port] is the `host` header of
        the request and one the deployment serves (ALLOWED_HOSTS), as the dashboard's pages
        are. Clients that send no Origin (not browsers) may always."""
        allowed = self.config.allowed_origins
        if origin is None or "*" in allowed or origin in allowed:
            return True  # non-browser clients send no Origin
        scheme, _, netloc = origin.partition("://")
        if host is None or scheme not in ("http", "https") or netloc.lower() != host.lower():
            return False
        allowed_hosts = settings.ALLOWED_HOSTS
        if settings.DEBUG and not allowed_hosts:  # Django's own rule (HttpRequest.get_host)
            allowed_hosts = [".localhost", "127.0.0.1", "[::1]"]
        domain, _ = split_domain_port(host)
        return bool(domain) and validate_host(domain, allowed_hosts)

    async def open(self, transport: Transport, scope: dict) -> EngineSession:
        headers = scope.get("headers")
        if headers:
            # In place: the ASGI server and the middleware hold this same list.
            headers[:] = [item for item in headers if item[0] in self._session_headers]
        session = EngineSession(self, transport, scope)
        self.sessions[session.sid] = session
        metrics.connections.labels(transport=transport.value).inc()
        return session

    def get(self, sid: str | None) -> EngineSession | None:
        return self.sessions.get(sid) if sid else None

    def forget(self, session: EngineSession) -> None:
        if self.sessions.pop(session.sid, None) is not None:
            metrics.connections.labels(transport=session.transport.value).dec()
            self.sweeper.session_closed()

    def close_all(self, reason: str) -> None:
        for session in list(self.sessions.values()):
            session.close(reason)
