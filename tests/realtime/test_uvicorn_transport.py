"""The websocket transport under uvicorn, whose `send` applies backpressure itself (no
Twisted producer, realtime/server/engine/flow.py): a session writes each frame in the caller's
stack and only falls back to a writer task when `send` waits for the socket
(realtime/server/engine/session.py). The same slow-client case as under daphne."""

from __future__ import annotations

import sys

import pytest

from tests.live import LiveServer
from tests.realtime import test_backpressure
from tests.realtime.product import Gateway
from tests.realtime.test_backpressure import QUEUE_BOUND

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

# The daphne test, run again with this module's `tight_gateway` (uvicorn).
test_a_slow_reader_is_disconnected_without_delaying_the_others_under_uvicorn = (
    test_backpressure.test_a_slow_reader_is_disconnected_without_delaying_the_others
)


def uvicorn_argv(port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "vendhub.asgi:application", "--host", "127.0.0.1",
            "--port", str(port), "--ws", "websockets-sansio", "--lifespan", "off"]


@pytest.fixture
def tight_gateway(gateway):
    """The product under uvicorn, letting 50 frames wait for one client before closing it."""
    env = {"REALTIME_MAX_QUEUED_FRAMES": str(QUEUE_BOUND)}
    with LiveServer(env=env, argv=uvicorn_argv) as server:
        yield Gateway(server, gateway.people, gateway.tokens)
