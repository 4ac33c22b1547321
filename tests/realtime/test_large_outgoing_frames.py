"""A frame the server sends may be larger than what a client may send: under daphne,
autobahn's one message limit (1 MiB) applied to both directions, so a live-map snapshot of
a fleet of ~8,000 machines failed to send and closed the session. The limit is lifted for
the server's own frames only (realtime/server/engine/limits.py)."""

from __future__ import annotations

import pytest
from websockets.exceptions import ConnectionClosed

from realtime.rooms import organization_room
from tests.realtime.product import publish, raw_client

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


async def test_an_event_over_a_mebibyte_reaches_the_client_and_inbound_stays_limited(gateway):
    people = gateway.people
    room = f"org:{people.acme.id}"
    blob = "é" * 700_000  # 1.4 MB of UTF-8
    async with raw_client(gateway, gateway.tokens["manager"]) as client:
        assert (await client.subscribe(room))["event"] == "subscribed"
        await publish(organization_room(people.acme.id), "inventory:low", {"blob": blob})
        assert await client.next_event(timeout=10) == ["inventory:low", {"blob": blob}]
        # The connection is still up, and still refuses a client message of that size.
        assert (await client.subscribe(f"user:{people.manager.id}"))["event"] == "subscribed"
        await client.ws.send('42["echo","' + "y" * 1_200_000 + '"]')
        with pytest.raises(ConnectionClosed):
            while True:
                await client.recv(5)
