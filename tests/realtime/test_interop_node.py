"""Interop with the official `socket.io-client` 4.x under Node against the real product
server, over websocket only and over polling with the upgrade (tests/interop/client.mjs)."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import unavailable
from tests.live import ROOT
from tests.realtime.product import publish

pytestmark = [pytest.mark.interop, pytest.mark.redis, pytest.mark.postgres]

CLIENT = ROOT / "tests" / "interop" / "client.mjs"
TRANSPORTS = {
    "websocket": ["websocket"],
    "polling+upgrade": ["polling", "websocket"],
}


@pytest.fixture(scope="module")
def node() -> str:
    node = shutil.which("node")
    problem = None
    if node is None:
        problem = "node is not installed"
    elif not (ROOT / "node_modules" / "socket.io-client").is_dir():
        problem = "node_modules/socket.io-client is missing (run `make bootstrap`)"
    if problem:
        unavailable(problem)
    return node


class NodeClient:
    """A running client.mjs: its JSON lines, read as they come."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict] = []

    async def next(self, timeout: float = 10.0) -> dict:
        raw = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not raw:
            stderr = await self.process.stderr.read()
            raise AssertionError(f"node exited early; lines={self.lines} stderr={stderr!r}")
        line = json.loads(raw)
        self.lines.append(line)
        return line

    async def until(self, kind: str, timeout: float = 10.0) -> dict:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            line = await self.next(max(0.01, deadline - asyncio.get_running_loop().time()))
            if line["type"] == kind:
                return line

    def of(self, kind: str) -> list[dict]:
        return [line for line in self.lines if line["type"] == kind]

    async def event(self, index: int, timeout: float = 10.0) -> dict:
        """The `index`-th event line (from 0), whether it was already read or not: a
        snapshot may come in the same polling payload as the ack, before `ready`."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.of("event")) <= index:
            await self.next(max(0.01, deadline - asyncio.get_running_loop().time()))
        return self.of("event")[index]


async def run_node(node: str, scenario: dict) -> NodeClient:
    process = await asyncio.create_subprocess_exec(
        node, str(CLIENT), json.dumps(scenario), cwd=Path(ROOT),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    return NodeClient(process)


async def finish(client: NodeClient, timeout: float = 10.0) -> int:
    try:
        await client.until("done", timeout)
        return await asyncio.wait_for(client.process.wait(), timeout)
    finally:
        if client.process.returncode is None:
            client.process.kill()
            await client.process.wait()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_connect_subscribe_receive_and_ack(node, gateway, transport):
    room = f"machine:{gateway.people.machine.id}"
    client = await run_node(node, {
        "url": gateway.url, "token": gateway.tokens["operator"],
        "transports": TRANSPORTS[transport], "rooms": [room], "expectEvents": 2,
        "timeoutMs": 15000,
    })
    try:
        opened = await client.until("open")
        assert opened["transport"] == TRANSPORTS[transport][0]
        await client.until("connect")
        assert await client.until("ack") == {
            "type": "ack", "room": room, "ack": {"event": "subscribed", "data": {"room": room}}}
        await client.until("ready")
        if transport == "polling+upgrade" and not client.of("upgrade"):
            await client.until("upgrade")
        if transport == "polling+upgrade":
            assert client.of("upgrade") == [{"type": "upgrade", "transport": "websocket"}]
        snapshot = await client.event(0)  # the machine's state, right after the ack
        assert snapshot["name"] == "machine:telemetry"
        assert snapshot["args"][0]["machineId"] == str(gateway.people.machine.id)
        payload = {"machineId": str(gateway.people.machine.id), "status": "offline"}
        await publish(room, "machine:status", payload)
        event = await client.event(1)
        assert (event["name"], event["args"][:1]) == ("machine:status", [payload])
        assert event["transport"] == "websocket"
    finally:
        assert await finish(client) == 0, client.lines


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("token", ["not-a-token", None])
async def test_bad_or_missing_token_is_refused(node, gateway, transport, token):
    client = await run_node(node, {"url": gateway.url, "token": token,
                                   "transports": TRANSPORTS[transport]})
    try:
        error = await client.until("connect_error")
        expected = "Invalid token" if token else "Authentication required"
        assert error["message"].startswith(expected), error
        assert not client.of("connect")
    finally:
        assert await finish(client) == 0, client.lines


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_room_of_another_organization_is_refused(node, gateway, transport):
    foreign = f"machine:{gateway.people.rival_machine.id}"
    own = f"machine:{gateway.people.machine.id}"
    client = await run_node(node, {
        "url": gateway.url, "token": gateway.tokens["manager"],
        "transports": TRANSPORTS[transport], "rooms": [foreign, own], "expectEvents": 2,
        "timeoutMs": 15000,
    })
    try:
        refused = await client.until("ack")
        assert refused["room"] == foreign
        assert refused["ack"]["event"] == "error"
        assert refused["ack"]["data"]["room"] == foreign
        assert (await client.until("ack"))["ack"]["event"] == "subscribed"
        await client.until("ready")
        snapshot = await client.event(0)  # of the own machine only
        assert snapshot["name"] == "machine:telemetry"
        assert snapshot["args"][0]["machineId"] == str(gateway.people.machine.id)
        await publish(foreign, "machine:status", {"secret": True})
        await publish(own, "machine:status", {"mine": True})
        event = await client.event(1)
        assert event["args"][:1] == [{"mine": True}]  # the foreign event never arrived first
    finally:
        assert await finish(client) == 0, client.lines
