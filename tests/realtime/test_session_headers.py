"""An open Engine.IO session keeps in its scope only the request headers the server and the
namespaces read (a token, a session cookie, the language, origin and host), in place, so
that no copy of the scope held by the ASGI server or a middleware keeps the rest alive."""

from __future__ import annotations

from realtime.server.conf import RealtimeConfig
from realtime.server.engine.server import EngineServer
from realtime.server.engine.session import Transport
from tests.realtime.doubles import QuietHandler

REQUEST = [(b"host", b"fleet.example"), (b"user-agent", b"Mozilla/5.0 " + b"x" * 200),
           (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="), (b"cookie", b"sessionid=abc"),
           (b"authorization", b"Bearer token"), (b"x-forwarded-for", b"10.0.0.9"),
           (b"accept-language", b"uz"), (b"origin", b"https://fleet.example")]


async def test_an_open_session_keeps_only_the_headers_that_are_read_again():
    server = EngineServer(config=RealtimeConfig(), handler_factory=QuietHandler)
    headers = list(REQUEST)
    scope = {"type": "websocket", "headers": headers}
    middlewares_copy = dict(scope)  # shares the list, as ASGI middleware copies do
    session = await server.open(Transport.WEBSOCKET, scope)
    kept = [(b"host", b"fleet.example"), (b"cookie", b"sessionid=abc"),
            (b"authorization", b"Bearer token"), (b"accept-language", b"uz"),
            (b"origin", b"https://fleet.example")]
    assert session.scope["headers"] == kept
    assert middlewares_copy["headers"] is headers and headers == kept


async def test_the_headers_kept_are_a_setting_and_a_scope_without_headers_is_fine():
    config = RealtimeConfig(session_headers=("X-Tenant",))
    server = EngineServer(config=config, handler_factory=QuietHandler)
    session = await server.open(Transport.WEBSOCKET, {"headers": [*REQUEST, (b"x-tenant", b"7")]})
    assert session.scope["headers"] == [(b"x-tenant", b"7")]
    assert (await server.open(Transport.POLLING, {})).scope == {}


def test_the_setting_comes_from_realtime_session_headers(settings):
    from realtime.server.conf import realtime_config

    assert realtime_config().session_headers == (
        "host", "origin", "authorization", "cookie", "accept-language")
    settings.REALTIME = {**settings.REALTIME, "SESSION_HEADERS": ["X-Tenant", "cookie"]}
    assert realtime_config().session_headers == ("X-Tenant", "cookie")
