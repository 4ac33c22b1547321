"""A rolling restart of the cluster (HAProxy, three uvicorn processes, Redis Sentinel): each
server process in turn gets SIGTERM, drains (its /healthz answers 503 and it refuses new
sessions for REALTIME_DRAIN_DELAY_MS, long enough for HAProxy to mark it down, then it closes
its sockets after parking their sessions), exits and is started again, while a dashboard (the
official socket.io-client) follows a machine's room through HAProxy and the machine posts
readings through HAProxy. The client misses no reading's event and gets none twice (recovered
at each move), sees at most one reconnect per restart, and ingestion answers no 5xx."""

from __future__ import annotations

import asyncio
import time

import pytest

from telemetry.device_keys import issue_device_key
from tests.cluster.backends import (
    Device,
    Follower,
    assert_every_reading_once,
    stop_both,
    wait_for_every_reading,
)
from tests.cluster.support import cluster_for_tests
from tests.realtime import test_interop_node as interop
from tests.realtime.conftest import token_for
from vendhub.cluster_processes import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.interop, pytest.mark.postgres,
              pytest.mark.timeout(300)]

node = interop.node  # the fixture: Node.js with socket.io-client installed, or a skip

#: deploy/haproxy.cfg checks every 2 s and marks a server down after 2 failures.
DRAIN_DELAY_MS = 4500


@pytest.fixture(scope="module")
def draining_cluster(django_db_setup, django_db_blocker):
    with cluster_for_tests(env={"REALTIME_DRAIN_DELAY_MS": str(DRAIN_DELAY_MS)}) as started:
        yield started


@pytest.fixture
def device_key(transactional_db, personas) -> str:
    return issue_device_key(machine=personas.machine).plaintext


def restart(cluster, index: int) -> float:
    """SIGTERM server `index` (it drains and exits), start it again, and wait until HAProxy
    sees it up; returns the seconds the drain and exit took."""
    server = cluster.servers[index]
    started = time.monotonic()
    server.stop(grace=30)
    drained = time.monotonic() - started
    server.start()
    wait_until(lambda: cluster._healthy(server.port), timeout=60,
               what=f"{server.name} answering /healthz", process=server)
    wait_until(lambda: cluster.servers_up() == len(cluster.servers), timeout=20,
               what="HAProxy seeing every server up", every=0.2)
    return drained


async def test_a_rolling_restart_loses_no_event_and_answers_no_5xx(node, draining_cluster,
                                                                   personas, device_key):
    cluster = draining_cluster
    room = f"machine:{personas.machine.pk}"
    follower = await Follower.start(node, {"urls": [cluster.url], "rooms": [room],
                                           "token": token_for(personas.manager),
                                           "timeoutMs": 280_000})
    device = None
    drains, reconnects = [], []
    try:
        await follower.wait_for("ready")
        device = Device(cluster.url, personas.machine, device_key)
        await asyncio.sleep(1.5)
        for index in range(len(cluster.servers)):
            before = len(follower.of("disconnect"))
            # In a thread: the device and the client's reader go on meanwhile.
            drains.append(await asyncio.to_thread(restart, cluster, index))
            assert "drained:" in cluster.servers[index].log_tail(200)
            await asyncio.sleep(1.0)
            reconnects.append(len(follower.of("disconnect")) - before)
        await device.stop()
        await wait_for_every_reading(follower, device)
    finally:
        await stop_both(follower, device)
    assert not [status for status in device.statuses if status >= 500], device.statuses
    assert device.statuses[201] == len(device.stored) > 100
    assert all(count <= 1 for count in reconnects) and sum(reconnects) >= 1, reconnects
    connects = follower.of("connect")
    assert len(connects) == 1 + sum(reconnects), follower.lines
    assert all(again["recovered"] for again in connects[1:]), follower.lines
    assert len({(c["id"], c["pid"]) for c in connects}) == 1
    assert_every_reading_once(follower, device)
    print(f"\nrolling restart through HAProxy: drains took "
          f"{', '.join(f'{d:.1f} s' for d in drains)} (delay {DRAIN_DELAY_MS} ms); "
          f"{len(device.stored)} readings, statuses {dict(device.statuses)}, "
          f"reconnects per restart {reconnects}")
