"""A client written for the reference design works against us unchanged: the official
`socket.io-client` emitting `subscribe` without an ack callback (the answer comes as a
`subscribed` event, as a NestJS gateway sends a returned `{event, data}`) and listening for
`machine:status` on `machines:all` (tests/interop/reference_client.mjs)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
import pytest

from telemetry.device_keys import issue_device_key
from tests.live import ROOT
from tests.realtime.test_interop_node import NodeClient, node  # noqa: F401 (fixture)
from tests.telemetry.conftest import reading_body

pytestmark = [pytest.mark.interop, pytest.mark.redis, pytest.mark.postgres]

CLIENT = ROOT / "tests" / "interop" / "reference_client.mjs"


async def run_reference_client(node: str, scenario: dict) -> NodeClient:  # noqa: F811
    process = await asyncio.create_subprocess_exec(
        node, str(CLIENT), json.dumps(scenario), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    return NodeClient(process)


@pytest.fixture
def device_key(gateway) -> str:
    return issue_device_key(machine=gateway.people.machine).plaintext


async def test_a_reference_client_subscribes_without_acks_and_sees_a_status_change(
        gateway, node, device_key):  # noqa: F811
    people = gateway.people
    key = device_key
    client = await run_reference_client(node, {
        "url": gateway.url, "token": gateway.tokens["viewer"],
        "rooms": ["machines:all", f"org:{people.acme.id}", f"org:{people.rival.id}"],
        "expectStatuses": 1, "timeoutMs": 15000})
    try:
        await client.until("ready")
        assert sorted(line["data"]["room"] for line in client.of("subscribed")) == sorted(
            ["machines:all", f"org:{people.acme.id}"])
        [refusal] = client.of("error")
        assert refusal["data"]["room"] == f"org:{people.rival.id}"
        assert refusal["data"]["request"] == "subscribe"

        # A device reports a fault: the machine's status changes, and the map hears it.
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
            response = await http.post(
                "/api/v1/telemetry/", headers={"Authorization": f"Device {key}"},
                json=reading_body(people.machine, at=datetime.now(UTC), status="error"))
        assert response.status_code == 201, response.text
        status = await client.until("machine:status")
        assert set(status["data"]) == {"machineId", "status", "timestamp"}
        assert (status["data"]["machineId"], status["data"]["status"]) == (
            str(people.machine.id), "error")
        assert status["data"]["timestamp"].endswith("Z")
        assert (await client.next())["type"] == "done"
    finally:
        if client.process.returncode is None:
            client.process.kill()
        await client.process.wait()


async def test_subscribe_and_unsubscribe_without_an_ack_id_are_answered_with_events(gateway):
    from tests.realtime.product import raw_client

    org = f"org:{gateway.people.acme.id}"
    async with raw_client(gateway, gateway.tokens["viewer"]) as client:
        await client.ws.send(f'42["subscribe",{{"room":"{org}"}}]')
        assert await client.next_event() == ["subscribed", {"room": org}]
        await client.ws.send('42["subscribe",{"room":"nowhere:1"}]')
        event, refusal = await client.next_event()
        assert event == "error" and refusal["request"] == "subscribe"
        await client.ws.send(f'42["unsubscribe",{{"room":"{org}"}}]')
        assert await client.next_event() == ["unsubscribed", {"room": org}]
        # With an ack id the answer is the ack, as before, and no event is sent.
        assert (await client.subscribe(org))["event"] == "subscribed"
        await client.assert_no_event(0.3)
