"""A flood of binary data from clients is refused before the server buffers it.

Before it authenticates (connects a namespace), a client may send a CONNECT and nothing
large: no binary packet, no message over `REALTIME_UNAUTHENTICATED_MAX_PAYLOAD`. After it,
its pending attachments are bounded per session (`REALTIME_MAX_ATTACHMENT_BYTES`) and
together with every other session's (`REALTIME_MAX_PENDING_ATTACHMENT_BYTES`). Every
offender is closed with one warning line naming its session and the limit.

The attack runs against a real server process (daphne, as `make run` serves; uvicorn with
README's production command), whose RSS is read from /proc before, during and after.
"""

from __future__ import annotations

import asyncio
import json
import os
from contextlib import AsyncExitStack

import pytest
from websockets.exceptions import ConnectionClosed

from realtime.server.conf import RealtimeConfig
from tests.live import LiveServer
from tests.realtime.product import Gateway, raw_client
from tests.realtime.test_uvicorn_light_protocol import readme_uvicorn_argv
from tests.realtime.wire import engine_websocket

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

ATTACKERS = 100
FRAME = 990_000  # just under maxPayload: each frame alone is a legal message
FRAMES = 5
MB = 1024 * 1024
#: What the server may hold for the attackers: one message of the unauthenticated limit
#: each, plus what each open websocket costs the server (well under 200 KB), plus 20 MB
#: for what the test's own requests and the allocator's rounding move. Without the limits
#: the same attack held ATTACKERS * (FRAMES - 1) * FRAME bytes: +470 MB here, +860 MB with
#: 9 frames each.
BOUND = ATTACKERS * (RealtimeConfig().unauthenticated_max_payload + 200 * 1024) + 20 * MB


def rss(server: LiveServer) -> int:
    """The server process's resident set size, in bytes (psutil is not installed)."""
    with open(f"/proc/{server.process.pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS line")


def binary_header(attachments: int) -> str:
    placeholders = [{"_placeholder": True, "num": i} for i in range(attachments)]
    return "45" + f"{attachments}-" + json.dumps(["upload", *placeholders], separators=(",", ":"))


async def attack(server: LiveServer, sids: list[str]) -> str:
    """One client that never sends CONNECT: a binary packet announcing 10 attachments, then
    megabyte frames. Returns how it ended ("closed": the server closed it)."""
    try:
        async with engine_websocket(server.url, compression=None) as (ws, handshake):
            sids.append(handshake["sid"])
            await ws.send(binary_header(10))
            for _ in range(FRAMES):
                await ws.send(os.urandom(FRAME))
            await asyncio.wait_for(ws.wait_closed(), 10)
            return "closed"
    except (ConnectionClosed, TimeoutError) as exc:
        return "closed" if isinstance(exc, ConnectionClosed) else "still open"


async def sample_peak(server: LiveServer, peak: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], rss(server))
        await asyncio.sleep(0.02)


@pytest.fixture(params=["daphne", "uvicorn"])
def attacked_server(request, django_db_setup):
    argv = readme_uvicorn_argv if request.param == "uvicorn" else None
    with LiveServer(argv=argv) as server:
        yield server


async def test_unauthenticated_clients_flooding_attachments_are_closed_and_memory_stays_bounded(
    attacked_server,
):
    server = attacked_server
    async with engine_websocket(server.url) as (_, __):  # warm the server up once
        pass
    await asyncio.sleep(0.5)
    baseline = rss(server)
    sids: list[str] = []
    peak, stop = [baseline], asyncio.Event()
    sampler = asyncio.create_task(sample_peak(server, peak, stop))
    outcomes = await asyncio.gather(*(attack(server, sids) for _ in range(ATTACKERS)))
    await asyncio.sleep(0.5)
    stop.set()
    await sampler

    print(f"RSS baseline {baseline / MB:.0f} MB, peak {peak[0] / MB:.0f} MB, "
          f"after {rss(server) / MB:.0f} MB")
    assert outcomes == ["closed"] * ATTACKERS
    assert peak[0] - baseline < BOUND, (
        f"RSS {baseline / MB:.0f} -> {peak[0] / MB:.0f} MB under the attack")
    assert rss(server) - baseline < BOUND
    log = server.log()
    warnings = [line for line in log.splitlines() if " WARNING " in line]
    for sid in sids:  # one warning line per offender, with the limit it hit
        (line,) = [w for w in warnings if f"session {sid}: " in w]
        assert "before authentication" in line or "not authenticated" in line, line
    assert len(sids) == ATTACKERS


@pytest.fixture
def budget_gateway(gateway):
    """The product server with a process-wide budget of 5 MB of pending attachments."""
    env = {"REALTIME_MAX_PENDING_ATTACHMENT_BYTES": "5000000",
           "REALTIME_MAX_ATTACHMENT_BYTES": "1000000"}
    with LiveServer(env=env) as server:
        yield Gateway(server, gateway.people, gateway.tokens)


async def hold_an_attachment(client) -> bool:
    """Announce a packet of 2 attachments and send the first (900 KB): the server holds it
    until the second arrives. True when the connection is still open afterwards."""
    await client.ws.send(binary_header(2))
    await client.ws.send(os.urandom(900_000))
    try:
        await asyncio.wait_for(client.ws.wait_closed(), 1.5)
    except TimeoutError:
        return True
    return False


async def test_connected_clients_hold_attachments_within_their_own_and_the_process_budget(
    budget_gateway,
):
    token = budget_gateway.tokens["operator"]
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(raw_client(budget_gateway, token,
                                                              compression=None))
                   for _ in range(12)]
        still_open = await asyncio.gather(*(hold_an_attachment(c) for c in clients))
        # 5 x 900 KB fit in the 5 MB budget; each further one is refused, and gives back
        # nothing it did not take.
        assert still_open.count(True) == 5, still_open
        holder = clients[still_open.index(True)]
        await holder.ws.send(os.urandom(900_000))  # its packet would hold 1.8 MB > 1 MB
        await asyncio.wait_for(holder.ws.wait_closed(), 5)
    log = budget_gateway.server.log()
    assert log.count("limit max_pending_attachment_bytes=5000000") == 7
    assert log.count("limit max_attachment_bytes=1000000") == 1
