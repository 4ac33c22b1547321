"""After a storm of connects and disconnects, the server gives the memory of the closed
connections back: the collector frees their objects and `malloc_trim` the free pages, once
the storm is over (realtime/server/engine/memory.py), so repeated storms do not grow the process.
Without the sweep, the dead connections waited for a rare full collection and RSS grew with
every storm (137 -> 208 MB reported)."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest

from tests.live import LiveServer
from tests.realtime.product import Gateway, raw_client
from tests.realtime.test_attachment_flood import MB, rss

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]

CLIENTS = 300
STORMS = 3
SWEPT = re.compile(r"swept after (\d+) closed sessions")


@pytest.fixture
def sweeping_gateway(gateway):
    """The product server, sweeping after every CLIENTS closed sessions."""
    with LiveServer(env={"REALTIME_SWEEP_AFTER_CLOSES": str(CLIENTS)}) as server:
        yield Gateway(server, gateway.people, gateway.tokens)


async def storm(gateway: Gateway, token: str) -> None:
    gate = asyncio.Semaphore(100)

    async def one() -> None:
        async with gate, raw_client(gateway, token, compression=None):
            pass

    await asyncio.gather(*(one() for _ in range(CLIENTS)))


async def open_connections(gateway: Gateway) -> float:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{gateway.url}/metrics", timeout=5)).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("vendhub_realtime_connections{"))


async def test_repeated_connect_storms_leave_the_server_no_bigger_than_after_the_first(
    sweeping_gateway,
):
    server = sweeping_gateway.server
    token = sweeping_gateway.tokens["operator"]
    async with raw_client(sweeping_gateway, token):  # warm up: imports, pools, caches
        pass
    baseline = rss(server)
    after: list[int] = []
    for number in range(1, STORMS + 1):
        await storm(sweeping_gateway, token)
        await asyncio.to_thread(
            lambda n=number: wait_for_log_count(server, n, timeout=15))
        after.append(rss(server))
    print("RSS MB: baseline", baseline // MB, "after each storm", [a // MB for a in after])
    assert await open_connections(sweeping_gateway) == 0
    # One sweep per storm, which found every session closed since the last (the first one
    # the warm-up's too).
    assert [int(n) for n in SWEPT.findall(server.log())] == [CLIENTS + 1] + [CLIENTS] * (
        STORMS - 1)
    # The memory of one storm is reused by the next: no growth from storm to storm.
    assert after[-1] - after[0] < 6 * MB, [a // MB for a in after]
    assert after[-1] - baseline < 40 * MB, (baseline // MB, [a // MB for a in after])


def wait_for_log_count(server: LiveServer, count: int, timeout: float) -> None:
    """Until the server logged its `count`-th sweep."""
    deadline = time.monotonic() + timeout
    while len(SWEPT.findall(server.log())) < count:
        assert time.monotonic() < deadline, (
            f"no sweep number {count} within {timeout}s; log tail:\n{server.log()[-3000:]}")
        time.sleep(0.1)
