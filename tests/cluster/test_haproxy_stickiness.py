"""Long-polling sessions behind HAProxy (deploy/haproxy.cfg) with three server processes.

An Engine.IO session lives in the memory of the process that opened it. Through the
shipped config (a cookie naming the server, inserted on the handshake) every request of a
session, the websocket upgrade included, reaches that process: 20 sessions upgrade from
polling to websocket without one 400 "Session ID unknown", while the handshakes are spread
over the three processes. The same config without the cookie (plain round robin) sends a
session's second request elsewhere, and the sessions fail: the test would catch a config
that lost its stickiness.
"""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from tests.cluster.support import haproxy_variant
from tests.live import free_port
from tests.realtime.conftest import token_for
from tests.realtime.wire import Polling, recv, recv_skipping_pings, websocket

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

SESSIONS = 20
COOKIE = "VENDHUB_BACKEND"


class SessionFailed(Exception):
    """A request of the session was refused (`status`, `body`)."""

    def __init__(self, step: str, status: int, body: str) -> None:
        super().__init__(f"{step}: {status} {body!r}")
        self.status = status
        self.body = body


def _ok(step: str, response: httpx.Response) -> httpx.Response:
    if response.status_code != 200:
        raise SessionFailed(step, response.status_code, response.text)
    return response


async def upgrade_through(base_url: str, token: str, room: str) -> dict:
    """One Socket.IO session as socket.io-client opens it: a polling handshake, CONNECT
    over polling, then the websocket upgrade (probe, upgrade packet) carrying the cookies
    the balancer set, and a subscription acknowledged over the websocket. Returns the
    server that answered the handshake, by cookie and by `X-Served-By` (when the config
    sends it)."""
    async with httpx.AsyncClient() as http:
        polling = Polling(http, base_url)
        response = _ok("handshake", await http.get(polling.url, timeout=5))
        polling.sid = json.loads(response.text[1:])["sid"]
        served = {"cookie": http.cookies.get(COOKIE),
                  "header": response.headers.get("x-served-by")}
        _ok("connect", await polling.post("40" + json.dumps({"token": token})))
        packets = []
        while not any(p.startswith("40{") for p in packets):
            packets = _ok("connect reply", await polling.get()).text.split("\x1e")
            if any(p.startswith("44") for p in packets):
                raise AssertionError(f"CONNECT refused: {packets}")
        cookie = "; ".join(f"{name}={value}" for name, value in http.cookies.items())
        try:
            async with websocket(base_url, query=f"&sid={polling.sid}",
                                 additional_headers={"Cookie": cookie} if cookie else {},
                                 compression=None) as ws:
                await ws.send("2probe")
                assert await recv(ws) == "3probe"
                await ws.send("5")
                await ws.send("420" + json.dumps(["subscribe", {"room": room}]))
                while not (frame := await recv_skipping_pings(ws)).startswith("430"):
                    pass
                (answer,) = json.loads(frame[3:])
                assert answer["event"] == "subscribed", answer
        except InvalidStatus as refused:
            raise SessionFailed("upgrade", refused.response.status_code,
                                refused.response.body.decode(errors="replace")) from None
    return served


@pytest.mark.django_db(transaction=True)
async def test_polling_sessions_upgrade_on_the_process_that_owns_them(cluster, personas):
    token = token_for(personas.operator)
    room = f"machine:{personas.machine.pk}"
    backends = []
    for _ in range(SESSIONS):
        served = await upgrade_through(cluster.url, token, room)
        backends.append(served["cookie"])
    assert None not in backends, "HAProxy inserted no stickiness cookie"
    # The cookie only pins a session: new sessions are still balanced over every process.
    assert set(backends) == {"app1", "app2", "app3"}, backends


@pytest.mark.django_db(transaction=True)
async def test_round_robin_without_the_cookie_loses_polling_sessions(cluster, personas):
    token = token_for(personas.operator)
    room = f"machine:{personas.machine.pk}"
    config = haproxy_variant(cluster, sticky=False, served_by=True)
    port = free_port()
    cluster.start_haproxy(name="haproxy-roundrobin", config=config, port=port)
    base_url = f"http://127.0.0.1:{port}"
    failures = []
    for _ in range(SESSIONS):
        try:
            await upgrade_through(base_url, token, room)
        except SessionFailed as failed:
            failures.append(failed)
    assert failures, "every session survived round robin: is the test really unsticky?"
    assert all(f.status == 400 and "Session ID unknown" in f.body for f in failures), failures
    # Requests did go to different processes (the test is not measuring one server).
    served_by = {r.headers.get("x-served-by") for r in [
        httpx.get(f"{base_url}/healthz", timeout=5) for _ in range(6)]}
    assert served_by == {"app1", "app2", "app3"}, served_by
