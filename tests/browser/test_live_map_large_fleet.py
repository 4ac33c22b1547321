"""The live map's large-fleet drawing in chromium: over map-markers.js's DOM_PIN_LIMIT the
machines are circle markers on one canvas (no `.pin` element each) and the side list holds
only the rows in view (map-list.js). The list rows are then the machines' DOM hook; the
canvas itself is checked by its pixels in the status colours. `?markers=canvas` draws a small
fleet the large fleet's way, so that the live path is tested without seeding thousands."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from machines.models import Machine, MachineStatus
from telemetry.device_keys import issue_device_key
from tests.browser.conftest import login, wait_live
from tests.browser.test_dashboard import now_iso, post_telemetry

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.postgres]

# Pixels of the map's canvas filled with exactly one colour (app.css's status colours).
PIXELS_OF = """(hex) => {
    const canvas = document.querySelector("#map canvas");
    const rgb = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let count = 0;
    for (let i = 0; i < data.length; i += 4) {
        if (data[i] === rgb[0] && data[i + 1] === rgb[1] && data[i + 2] === rgb[2]) count += 1;
    }
    return count;
}"""
MAINTENANCE = "#f59e0b"


@pytest.fixture
def device_key(people) -> str:
    return issue_device_key(machine=people.machine, label="canvas map").plaintext


LARGE = 1200  # over DOM_PIN_LIMIT and ALL_ROWS_MAX


@pytest.fixture
def large_fleet(people) -> int:
    """LARGE more located Acme machines, named to sort last; the count of located ones."""
    Machine.objects.bulk_create([
        Machine(organization=people.acme, serial_number=f"SN-LARGE-{i:05d}",
                name=f"Zz large {i:05d}", status=MachineStatus.ONLINE,
                latitude=f"{41.20 + i % 40 * 0.005:.6f}",
                longitude=f"{69.15 + i // 40 * 0.005:.6f}")
        for i in range(LARGE)
    ])
    return Machine.objects.filter(organization=people.acme, latitude__isnull=False).count()


def test_a_canvas_marker_is_recoloured_by_a_live_status_change(people, fleet, device_key,
                                                               browser):
    key = device_key
    page = browser.new_page()
    login(page, people.manager.username, next_path="/map/?markers=canvas")
    wait_live(page)
    page.wait_for_selector("#map[data-loaded=true]")
    expect(page.locator("#map")).to_have_attribute("data-markers", str(1 + len(fleet)))
    expect(page.locator("#map")).to_have_attribute("data-marker-kind", "canvas")
    expect(page.locator(".pin")).to_have_count(0)
    expect(page.locator("#machine-list .machine-item")).to_have_count(1 + len(fleet))
    # The fleet (conftest) has one machine in maintenance already.
    expect(page.locator('[data-count-for="maintenance"]')).to_have_text("1")
    amber = page.evaluate(PIXELS_OF, MAINTENANCE)
    assert amber > 20

    post_telemetry(browser.server, key, {
        "machineId": str(people.machine.id), "timestamp": now_iso(), "status": "maintenance",
    })
    row = page.locator(f'.machine-item[data-machine-id="{people.machine.id}"]')
    expect(row).to_have_attribute("data-status", "maintenance")
    expect(page.locator('[data-count-for="maintenance"]')).to_have_text("2")
    page.wait_for_function(f"() => ({PIXELS_OF})('{MAINTENANCE}') > {amber} + 20")

    # The list row is the way to a canvas marker's popup (and the keyboard's).
    row.locator(".machine-item-name").click()
    popup = page.locator(".leaflet-popup .popup")
    expect(popup.locator(".popup-title")).to_have_text(people.machine.name)
    expect(popup.locator(".status-pill")).to_have_text("Maintenance")


def test_a_large_fleet_is_drawn_on_canvas_with_the_rows_in_view_only(people, large_fleet,
                                                                     browser):
    located = large_fleet
    page = browser.signed_in(people.manager, "/map/")
    page.wait_for_selector("#map[data-loaded=true]")
    expect(page.locator("#map")).to_have_attribute("data-markers", str(located))
    expect(page.locator("#map")).to_have_attribute("data-marker-kind", "canvas")
    expect(page.locator(".pin")).to_have_count(0)
    expect(page.locator("#machine-total")).to_have_text(f"({located})")
    rows = page.locator("#machine-list .machine-item")
    assert 0 < rows.count() < 200
    assert rows.first.get_attribute("aria-setsize") == str(located)

    # Scrolled to the end, the list shows the last machine by name, at its place in the fleet.
    page.locator("#machine-list").evaluate("(el) => { el.scrollTop = el.scrollHeight; }")
    last = page.locator(".machine-item", has_text=f"Zz large {LARGE - 1:05d}")
    expect(last).to_be_visible()
    assert last.get_attribute("aria-posinset") == str(located)
    assert rows.count() < 200
