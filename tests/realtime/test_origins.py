"""Which browser origins may open a Socket.IO session, in production mode (DEBUG off): the
page's own origin always (the dashboard served by the same server), others only when listed
in REALTIME_ALLOWED_ORIGINS; clients that send no Origin are not browsers and may."""

from __future__ import annotations

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from tests.live import LiveServer
from tests.realtime.wire import engine_websocket

PRODUCTION = {"DEBUG": "0", "SECRET_KEY": "origins-test-" + "k" * 40,
              "ALLOWED_HOSTS": "127.0.0.1,localhost", "REALTIME_ALLOWED_ORIGINS": ""}
POLLING = "/socket.io/?EIO=4&transport=polling"


@pytest.fixture
def production_server(transactional_db):
    with LiveServer(env=PRODUCTION) as server:
        yield server


@pytest.fixture
def listing_server(transactional_db):
    env = {**PRODUCTION, "REALTIME_ALLOWED_ORIGINS": "https://dash.example"}
    with LiveServer(env=env) as server:
        yield server


def handshake(server: LiveServer, origin: str | None, **headers: str) -> int:
    if origin is not None:
        headers["Origin"] = origin
    return httpx.get(server.url + POLLING, headers=headers, timeout=10).status_code


async def websocket_opens(server: LiveServer, origin: str) -> bool:
    try:
        async with engine_websocket(server.url, origin=origin) as (_, opened):
            return bool(opened["sid"])
    except InvalidStatus as refused:
        assert refused.response.status_code == 403
        return False


def test_the_servers_own_origin_may_open_a_session_without_any_list(production_server):
    assert handshake(production_server, production_server.url) == 200
    # The same page reached by another name the deployment serves.
    localhost = f"http://localhost:{production_server.port}"
    assert handshake(production_server, localhost, Host=f"localhost:{production_server.port}") \
        == 200
    assert handshake(production_server, None) == 200  # not a browser


@pytest.mark.parametrize("origin", [
    "http://evil.example",
    "http://127.0.0.1",  # another port is another origin
    "http://127.0.0.1:1",
    "null",
])
def test_a_foreign_origin_is_refused(production_server, origin):
    assert handshake(production_server, origin) == 403


def test_an_origin_is_not_made_same_by_a_host_the_deployment_does_not_serve(production_server):
    # A page of evil.example that reached this server under its own name (DNS rebinding).
    assert handshake(production_server, "http://evil.example",
                     Host="evil.example") in (400, 403)


async def test_the_servers_own_origin_may_open_a_websocket(production_server):
    assert await websocket_opens(production_server, production_server.url)
    assert not await websocket_opens(production_server, "http://evil.example")


async def test_a_listed_origin_is_allowed_beside_the_own_one(listing_server):
    assert handshake(listing_server, "https://dash.example") == 200
    assert handshake(listing_server, listing_server.url) == 200
    assert handshake(listing_server, "https://other.example") == 403
    assert await websocket_opens(listing_server, "https://dash.example")
