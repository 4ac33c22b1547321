"""The protocol-conformance profile is never reachable in the product profile: not through the
ASGI application deployments serve, not through the product server's `/` namespace, and the
command that serves it listens on loopback only."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator

from realtime.management.commands.conformance_server import Command
from realtime.server.conformance import CONFORMANCE_CONFIG
from tests.realtime.product import raw_client
from tests.realtime.wire import parse_open


async def test_the_deployed_application_serves_no_conformance_endpoint_or_namespace():
    from vendhub.asgi import application

    assert application.gateway.config != CONFORMANCE_CONFIG
    echo = WebsocketCommunicator(application, "/engine.io/?EIO=4&transport=websocket")
    with pytest.raises(ValueError, match="No route found"):
        await echo.connect()
    communicator = WebsocketCommunicator(application, "/socket.io/?EIO=4&transport=websocket")
    assert (await communicator.connect())[0]
    assert parse_open(await communicator.receive_from())["pingInterval"] != 300
    await communicator.send_to(text_data="40")  # the conformance `/` takes this as it is
    assert (await communicator.receive_from()).startswith('44{"message":"Authentication')
    await communicator.send_to(text_data="40/custom,")
    assert await communicator.receive_from() == '44/custom,{"message":"Invalid namespace"}'
    await communicator.disconnect()


def test_the_conformance_server_listens_on_loopback_only():
    parser = Command().create_parser("manage.py", "conformance_server")
    options = {action.dest for action in parser._actions}
    assert "port" in options
    assert not options & {"host", "bind", "interface", "address"}


@pytest.mark.redis
@pytest.mark.postgres
async def test_the_product_namespace_has_none_of_the_conformance_behaviours(gateway):
    async with raw_client(gateway, gateway.tokens["viewer"]) as client:
        await client.assert_no_event(0.3)  # no `auth` event echoing the CONNECT payload
        for event in ("message-with-ack", "emit-with-ack"):
            # Unknown events are acknowledged empty: no echo of the arguments, no server ack.
            assert await client.call(event, {"echo": "me"}) == []
        await client.ws.send('42["message",{"echo":"me"}]')
        await client.assert_no_event(0.3)  # no `message-back`
