"""The subscribe path under load: machine rooms asked for together share one authorization
read and one snapshot read (a thousand monitor pages reloading at once), and sharing a
read never shares an answer across organizations."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from channels.db import database_sync_to_async as in_database

from machines.models import Machine
from realtime.events import MACHINE_TELEMETRY
from tests.factories import make_machine, make_reading, make_user
from tests.realtime.conftest import token_for
from tests.realtime.product import raw_client
from tests.realtime.test_metrics import scrape

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

CROWD = 24


def counted(samples: dict, read: str) -> tuple[float, float]:
    """(reads, callers) of the batched read `read` in a scrape."""
    labels = (("read", read),)
    return (samples.get(("vendhub_realtime_batched_reads_total", labels), 0.0),
            samples.get(("vendhub_realtime_batched_callers_total", labels), 0.0))


@pytest.fixture
def machines(gateway):
    """Three Acme machines with a reading each, and the rival's machine."""
    people = gateway.people
    own = [make_machine(people.acme, name=f"Monitor {n}") for n in range(3)]
    for number, machine in enumerate(own):
        make_reading(machine, temperature=20.0 + number)
    return own, people.rival_machine


async def test_machine_rooms_asked_together_share_their_reads(gateway, machines):
    own, rival_machine = machines
    tokens = [gateway.tokens[name] for name in ("manager", "operator", "viewer")]
    start = asyncio.Event()

    async def monitor(number: int):
        machine = own[number % len(own)]
        async with raw_client(gateway, tokens[number % len(tokens)]) as client:
            await start.wait()
            answer = await client.subscribe(f"machine:{machine.id}")
            return machine, answer, client.snapshots.get(f"machine:{machine.id}")

    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
        before = await scrape(http)
        tasks = [asyncio.ensure_future(monitor(n)) for n in range(CROWD)]
        await asyncio.sleep(1.0)  # every client connected, waiting for the signal
        start.set()
        results = await asyncio.gather(*tasks)
        after = await scrape(http)
    for machine, answer, snapshot in results:
        assert answer == {"event": "subscribed", "data": {"room": f"machine:{machine.id}"}}
        event, payload = snapshot
        assert event == MACHINE_TELEMETRY and payload["machineId"] == str(machine.id)
        assert payload["temperature"] == 20.0 + own.index(machine)
    for read in ("machine_organization", "machine_snapshot"):
        reads = counted(after, read)[0] - counted(before, read)[0]
        callers = counted(after, read)[1] - counted(before, read)[1]
        assert callers == CROWD, read
        assert 1 <= reads <= CROWD / 4, (read, reads)


async def test_a_shared_read_answers_each_viewer_for_their_own_organizations(gateway, machines):
    """Acme and the rival ask for both machines at once: each is refused the other's, in the
    same batched read that authorizes its own."""
    own, rival_machine = machines
    acme, rival = gateway.tokens["viewer"], gateway.tokens["stranger"]
    start = asyncio.Event()

    async def ask(token: str, machine: Machine):
        async with raw_client(gateway, token) as client:
            await start.wait()
            return await client.subscribe(f"machine:{machine.id}"), client.snapshots

    asking = [asyncio.ensure_future(ask(token, machine))
              for token in (acme, rival) for machine in (own[0], rival_machine)]
    await asyncio.sleep(0.5)
    start.set()
    (acme_own, acme_snaps), (acme_foreign, _), (rival_foreign, _), (rival_own, rival_snaps) = (
        await asyncio.gather(*asking))
    assert acme_own["event"] == rival_own["event"] == "subscribed"
    for refused, machine in ((acme_foreign, rival_machine), (rival_foreign, own[0])):
        assert refused["event"] == "error"
        assert refused["data"] == {"request": "subscribe", "room": f"machine:{machine.id}",
                                   "message": "no such machine"}
    assert acme_snaps[f"machine:{own[0].id}"][1]["machineId"] == str(own[0].id)
    assert rival_snaps[f"machine:{rival_machine.id}"][1]["machineId"] == str(rival_machine.id)


async def test_a_machine_moved_to_another_organization_is_refused_at_the_next_subscribe(
        gateway, machines):
    """Nothing about a machine's organization is kept between subscribes: moved, it is
    refused to its former organization's viewers at once."""
    own, _ = machines
    room = f"machine:{own[0].id}"
    async with raw_client(gateway, gateway.tokens["viewer"]) as client:
        assert (await client.subscribe(room))["event"] == "subscribed"
        await client.unsubscribe(room)
        await in_database(Machine.objects.filter(pk=own[0].pk).update)(
            organization=gateway.people.rival)
        refused = await client.subscribe(room)
        assert refused["event"] == "error" and refused["data"]["message"] == "no such machine"
    newcomer = await in_database(make_user)("rival-newcomer", organization=gateway.people.rival)
    async with raw_client(gateway, await in_database(token_for)(newcomer)) as client:
        assert (await client.subscribe(room))["event"] == "subscribed"
