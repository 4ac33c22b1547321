"""Connection state recovery with the official `socket.io-client` 4.x (Node): the transport is
forced closed, events are published while the client is away, the Manager reconnects by
itself, and `socket.recovered` says whether the missed events were replayed
(tests/interop/recovery.mjs)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from realtime.server.history import is_offset, parse_offset
from tests.live import ROOT
from tests.realtime import test_interop_node as interop
from tests.realtime.conftest import wait_for_log
from tests.realtime.product import publish
from tests.realtime.test_interop_node import TRANSPORTS, NodeClient

pytestmark = [pytest.mark.interop, pytest.mark.redis, pytest.mark.postgres]

node = interop.node  # the fixture: Node.js with socket.io-client installed, or a skip

SCRIPT = ROOT / "tests" / "interop" / "recovery.mjs"
#: Long enough for the server to park the session and the test to publish meanwhile.
AWAY_MS = 1500


async def run(node_path: str, scenario: dict) -> NodeClient:
    process = await asyncio.create_subprocess_exec(
        node_path, str(SCRIPT), json.dumps({"reconnectionDelayMs": AWAY_MS, **scenario}),
        cwd=Path(ROOT), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    return NodeClient(process)


async def finish(client: NodeClient, timeout: float = 15.0) -> int:
    """Wait for the script's "done" line and exit code."""
    await client.until("done", timeout)
    return await asyncio.wait_for(client.process.wait(), timeout)


async def stop(client: NodeClient) -> None:
    if client.process.returncode is None:
        client.process.kill()
        await client.process.wait()


def events_of(client: NodeClient, round_: int) -> list[dict]:
    return [line for line in client.of("event") if line["round"] == round_]


def assert_in_order_once(events: list[dict], expected: list) -> None:
    """Exactly `expected` payloads, in order, each with an offset newer than the last."""
    assert [e["args"][:-1] for e in events] == [[payload] for payload in expected], events
    offsets = [e["args"][-1] for e in events]
    assert all(is_offset(o) for o in offsets), offsets
    assert offsets == sorted(offsets, key=parse_offset) and len(set(offsets)) == len(offsets)


async def away_then_publish(client: NodeClient, room: str, payloads: list, round_: int = 1):
    """Wait until the client lost its transport, then publish while it is away."""
    line = await client.until("disconnect")
    assert line["round"] == round_, line  # the client's reason: "forced close"
    await asyncio.sleep(0.2)  # the server notices the close and parks the session
    for payload in payloads:
        await publish(room, "test:event", payload)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_missed_events_arrive_once_in_order_and_recovered_is_true(node, gateway, transport):
    room = f"org:{gateway.people.acme.id}"
    client = await run(node, {"url": gateway.url, "token": gateway.tokens["operator"],
                              "transports": TRANSPORTS[transport], "rooms": [room],
                              "before": 1, "after": 5})
    try:
        first = await client.until("connect")
        assert first["recovered"] is False and first["pid"]
        await client.until("ready")
        await publish(room, "test:event", {"n": 0})
        dropped = await client.until("dropped")
        assert is_offset(dropped["offset"]) and dropped["pid"] == first["pid"]
        missed = [{"n": n} for n in range(1, 6)]
        await away_then_publish(client, room, missed)
        again = await client.until("connect")
        assert again["recovered"] is True
        assert (again["id"], again["pid"]) == (first["id"], first["pid"])
        assert await finish(client) == 0, client.lines
    finally:
        await stop(client)
    assert_in_order_once(events_of(client, 0), [{"n": 0}])
    assert_in_order_once(events_of(client, 1), missed)


async def test_recovery_without_any_event_received_before(node, gateway):
    room = f"user:{gateway.people.viewer.id}"
    client = await run(node, {"url": gateway.url, "token": gateway.tokens["viewer"],
                              "rooms": [room], "before": 0, "after": 3})
    try:
        await client.until("ready")
        assert (await client.until("dropped"))["offset"] is None
        missed = [{"n": n} for n in range(3)]
        await away_then_publish(client, room, missed)
        assert (await client.until("connect"))["recovered"] is True
        assert await finish(client) == 0, client.lines
    finally:
        await stop(client)
    assert_in_order_once(events_of(client, 1), missed)


async def test_recovery_twice_in_a_row(node, gateway):
    room = f"org:{gateway.people.acme.id}"
    client = await run(node, {"url": gateway.url, "token": gateway.tokens["manager"],
                              "rooms": [room], "before": 0, "after": 2, "rounds": 2,
                              "timeoutMs": 30000})
    try:
        await client.until("ready")
        for round_ in (1, 2):
            payloads = [{"round": round_, "n": n} for n in range(2)]
            await away_then_publish(client, room, payloads, round_)
            assert (await client.until("connect"))["recovered"] is True
        assert await finish(client) == 0, client.lines
    finally:
        await stop(client)
    for round_ in (1, 2):
        assert_in_order_once(events_of(client, round_),
                             [{"round": round_, "n": n} for n in range(2)])


@pytest.mark.parametrize("received_before", [1, 0], ids=["after-an-event", "before-any-event"])
async def test_a_reconnect_landing_on_another_process_recovers(node, gateway, second_gateway,
                                                               received_before):
    """Also when the client had received no event yet: no offset to send back, and another
    server process."""
    room = f"org:{gateway.people.acme.id}"
    client = await run(node, {"url": gateway.url, "switchTo": second_gateway.url,
                              "token": gateway.tokens["operator"], "rooms": [room],
                              "before": received_before, "after": 4})
    try:
        first = await client.until("connect")
        await client.until("ready")
        for n in range(received_before):
            await publish(room, "test:event", {"n": n})
        dropped = await client.until("dropped")
        assert (dropped["offset"] is not None) == bool(received_before), dropped
        missed = [{"n": n} for n in range(1, 5)]
        await away_then_publish(client, room, missed)
        again = await client.until("connect")
        assert again["recovered"] is True and again["id"] == first["id"]
        assert await finish(client) == 0, client.lines
    finally:
        await stop(client)
    assert_in_order_once(events_of(client, 1), missed)
    wait_for_log(second_gateway.server, "session recovered, 4 missed event(s)")


async def test_after_the_window_recovered_is_false(node, short_window_gateway):
    gateway = short_window_gateway  # sessions recoverable for 1.5 s
    room = f"org:{gateway.people.acme.id}"
    client = await run(node, {"url": gateway.url, "token": gateway.tokens["viewer"],
                              "rooms": [room], "before": 1, "after": 0,
                              "reconnectionDelayMs": 2500})
    try:
        first = await client.until("connect")
        await client.until("ready")
        await publish(room, "test:event", {"n": 0})
        await away_then_publish(client, room, [{"missed": True}])
        again = await client.until("connect")
        assert again["recovered"] is False
        assert again["pid"] != first["pid"] and again["id"] != first["id"]
        assert await finish(client) == 0, client.lines
    finally:
        await stop(client)
    assert events_of(client, 1) == []  # a fresh session: no replay, and no rooms

