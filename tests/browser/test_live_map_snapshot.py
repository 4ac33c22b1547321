"""The live map in chromium: its state comes from the `machines:snapshot` sent on subscribe
(no REST fetch of the fleet), updates arrive as `machines:status` batches, and a server
`resync` makes every page refetch over REST."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from machines.models import MachineStatus
from telemetry.device_keys import issue_device_key
from tests.browser.conftest import login, wait_live
from tests.browser.test_dashboard import now_iso, post_telemetry
from tests.factories import make_machine

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.postgres]

FLEET_URL = "/api/v1/machines/?withLocation=true"


@pytest.fixture
def fleet(people):
    """Two more located Acme machines and one without coordinates (not on the map)."""
    return [make_machine(people.acme, name="Chilonzor Cafe", status=MachineStatus.OFFLINE,
                         latitude="41.2850", longitude="69.2040"),
            make_machine(people.acme, name="Sergeli Snack", latitude="41.2270",
                         longitude="69.2200")]


@pytest.fixture
def hidden(people):
    return make_machine(people.acme, name="Warehouse", latitude=None, longitude=None,
                        status=MachineStatus.OFFLINE)


@pytest.fixture
def device_key(people) -> str:
    return issue_device_key(machine=people.machine, label="map tests").plaintext


def fleet_requests(page) -> list[str]:
    requests: list[str] = []
    page.on("request", lambda request: FLEET_URL in request.url and requests.append(request.url))
    return requests


def test_the_map_is_drawn_from_the_snapshot_and_updated_by_batches(people, fleet, hidden,
                                                                  device_key, browser):
    page = browser.new_page()
    requests = fleet_requests(page)
    login(page, people.manager.username, next_path="/map/")
    wait_live(page)
    page.wait_for_selector("#map[data-loaded=true]")
    expect(page.locator(".leaflet-marker-pane .pin")).to_have_count(1 + len(fleet))
    expect(page.locator(f'.pin[data-machine-id="{hidden.id}"]')).to_have_count(0)
    assert requests == []  # the snapshot, not REST

    page.evaluate("""() => window.vendhubRealtime.socket.on(
        "machines:status", (batch) => (window.__batches = window.__batches || []).push(batch))""")
    post_telemetry(browser.server, device_key, {
        "machineId": str(people.machine.id), "timestamp": now_iso(), "status": "maintenance",
    })
    pin = page.locator(f'.pin[data-machine-id="{people.machine.id}"]')
    expect(pin).to_have_attribute("data-status", "maintenance")
    batches = page.evaluate("window.__batches")
    assert [[entry["machineId"] for entry in batch] for batch in batches] == [
        [str(people.machine.id)]]
    assert requests == []


def test_a_server_resync_refetches_the_fleet_over_rest(people, fleet, browser):
    page = browser.new_page()
    requests = fleet_requests(page)
    login(page, people.manager.username, next_path="/map/")
    wait_live(page)
    page.wait_for_selector("#map[data-loaded=true]")
    assert requests == []
    # What the gateway sends to every socket once Redis is back (realtime/server/hub.py).
    with page.expect_request(lambda request: FLEET_URL in request.url):
        page.evaluate("""() => {
            const socket = window.vendhubRealtime.socket;
            for (const listener of socket.listeners("resync")) {
                listener({reason: "redis-reconnected"});
            }
        }""")
    page.wait_for_timeout(300)
    assert len(requests) == 1
    expect(page.locator(".leaflet-marker-pane .pin")).to_have_count(1 + len(fleet))
