"""Behind HAProxy, an event published by one server process reaches the sockets held by the
others: the processes share one channel layer, reached through Redis Sentinel
(REDIS_SENTINELS), as in a deployment.

The balancer's cookie picks the process: a request carrying `VENDHUB_BACKEND=appN` goes
to appN (deploy/haproxy.cfg), so the test knows which process holds the socket and which
one ingests the reading.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from telemetry.device_keys import issue_device_key
from tests.realtime.conftest import token_for
from tests.realtime.product import raw_client
from tests.telemetry.conftest import reading_body

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@dataclass
class Through:
    """What `raw_client` needs of a gateway: its URL (here the balancer's)."""

    url: str


def pinned(server: str) -> dict[str, str]:
    return {"Cookie": f"VENDHUB_BACKEND={server}"}


async def telemetry_event(client, temperature: float, timeout: float = 10.0) -> dict:
    """The `machine:telemetry` event carrying `temperature` (other events of the reading,
    such as `machine:forecast`, are skipped)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        assert remaining > 0, f"no machine:telemetry at {temperature} within {timeout}s"
        name, *args = await client.next_event(remaining)
        if name == "machine:telemetry" and args[0].get("temperature") == temperature:
            return args[0]


@pytest.fixture
def device_key(transactional_db, personas) -> str:
    return issue_device_key(machine=personas.machine).plaintext


@pytest.mark.django_db(transaction=True)
async def test_a_reading_ingested_by_one_process_reaches_a_socket_on_another(cluster, personas,
                                                                             device_key):
    room = f"machine:{personas.machine.pk}"
    balancer = Through(cluster.url)
    async with raw_client(balancer, token_for(personas.operator), headers=pinned("app1"),
                          compression=None) as client, httpx.AsyncClient() as http:
        answer = await client.subscribe(room)
        assert answer["event"] == "subscribed", answer
        # Ingested by app2 (through the balancer) and by app3 (straight to its port).
        for temperature, url, headers in [(31.5, cluster.url, pinned("app2")),
                                          (32.5, cluster.server_urls[2], {})]:
            body = reading_body(personas.machine, at=datetime.now(UTC),
                                temperature=temperature)
            response = await http.post(f"{url}/api/v1/telemetry/", json=body, timeout=10,
                                       headers={**headers,
                                                "Authorization": f"Device {device_key}"})
            assert response.status_code == 201, response.text
            event = await telemetry_event(client, temperature)
            assert event["machineId"] == str(personas.machine.pk)


@pytest.mark.django_db(transaction=True)
async def test_a_stranger_on_another_process_cannot_join_the_machine_room(cluster, personas):
    balancer = Through(cluster.url)
    async with raw_client(balancer, token_for(personas.stranger), headers=pinned("app3"),
                          compression=None) as stranger:
        answer = await stranger.subscribe(f"machine:{personas.machine.pk}")
        assert answer["event"] == "error", answer
        await stranger.assert_no_event(within=0.5)
