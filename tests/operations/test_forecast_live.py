"""Forecasts live: a refresh publishes `machine:forecast` to the machine's room and the
machine's earliest run-out (`machine:runout`) to its organization's live map, coalesced
per machine and tick (`machines:runout` batches); a stranger hears neither."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
import pytest
from channels.layers import InMemoryChannelLayer

from operations.events import MACHINE_FORECAST, MACHINE_RUNOUT, MACHINES_RUNOUT
from realtime.events import DIRECT_EVENT_SCHEMAS, EVENT_SCHEMAS
from realtime.fanout import product_hub
from realtime.rooms import map_room
from realtime.server.hub import FRAME_MESSAGE_TYPE, encode_main_event
from tests.realtime.conftest import (  # noqa: F401  (the live gateway of the socket tests)
    _fast_password_hashing,
    gateway,
    product_server,
)
from tests.realtime.product import raw_client
from tests.realtime.test_events import assert_matches
from tests.realtime.test_hub import Member, eventually
from tests.telemetry.conftest import device_key, iso  # noqa: F401

MAP = map_room("6f1c2a52-0000-4000-8000-000000000002")


def runout_message(machine_id: str, at: str | None) -> dict:
    payload = {"machineId": machine_id, "runsOutAt": at}
    return {"type": FRAME_MESSAGE_TYPE, "room": MAP, "event": MACHINE_RUNOUT,
            "frame": encode_main_event(MACHINE_RUNOUT, payload), "offset": None}


@pytest.fixture
async def hub():
    hub = product_hub(InMemoryChannelLayer(), map_tick_ms=100)
    yield hub
    await hub.stop()


async def test_run_outs_of_one_tick_reach_a_viewer_once_per_machine(hub):
    dashboard, reference = Member(), Member()
    await hub.join(dashboard, MAP, batched=True)
    await hub.join(reference, MAP)
    for minute in range(50):
        hub.dispatch(runout_message("m-1", f"2026-03-01T10:{minute:02d}:00Z"))
    hub.dispatch(runout_message("m-2", None))
    await eventually(lambda: dashboard.frames and len(reference.frames) == 2, timeout=1)
    [frame] = dashboard.frames
    event, entries = json.loads(frame[2:])
    assert event == MACHINES_RUNOUT
    assert_matches(entries, DIRECT_EVENT_SCHEMAS[MACHINES_RUNOUT])
    assert entries == [{"machineId": "m-1", "runsOutAt": "2026-03-01T10:49:00Z"},
                       {"machineId": "m-2", "runsOutAt": None}]
    assert hub.coalescers["live_runout"].coalesced == 49


async def _next(client, name: str, timeout: float = 8.0) -> list:
    """The next event called `name`, skipping the others (telemetry, statuses)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        event = await client.next_event(max(0.05, deadline - asyncio.get_running_loop().time()))
        if event[0] == name:
            return event


@pytest.mark.redis
@pytest.mark.postgres
async def test_a_reading_sends_the_forecast_to_the_machine_and_the_map_and_no_stranger(
        gateway, device_key):  # noqa: F811
    people = gateway.people
    machine = people.machine
    body = {"machineId": str(machine.pk), "timestamp": iso(datetime.now(UTC)),
            "status": "online", "temperature": 21.0, "humidity": 40.0,
            "bunkers": [{"bunkerId": str(people.coffee.pk), "currentLevel": 640}],
            "errors": [], "lastSale": None, "uptime": 100}
    async with raw_client(gateway, gateway.tokens["viewer"]) as viewer, \
            raw_client(gateway, gateway.tokens["operator"]) as board, \
            raw_client(gateway, gateway.tokens["stranger"]) as stranger, \
            httpx.AsyncClient(base_url=gateway.url, timeout=10) as device:
        assert (await viewer.subscribe(f"machine:{machine.pk}"))["event"] == "subscribed"
        assert (await board.subscribe("machines:all", batch=True))["event"] == "subscribed"
        assert (await stranger.subscribe("machines:all"))["event"] == "subscribed"
        refused = await stranger.subscribe(f"machine:{machine.pk}")
        assert refused["event"] == "error"
        response = await device.post("/api/v1/telemetry/", json=body,
                                     headers={"Authorization": f"Device {device_key}"})
        assert response.status_code in (200, 201), response.text
        _, forecast = await _next(viewer, MACHINE_FORECAST)
        assert_matches(forecast, EVENT_SCHEMAS[MACHINE_FORECAST])
        coffee = next(f for f in forecast["forecasts"] if f["bunkerId"] == str(people.coffee.pk))
        assert coffee["level"] == 640 and coffee["name"] == "Coffee"
        _, entries = await _next(board, MACHINES_RUNOUT)
        assert entries == [{"machineId": str(machine.pk), "runsOutAt": forecast["runsOutAt"]}]
        await stranger.assert_no_event(1.5)
