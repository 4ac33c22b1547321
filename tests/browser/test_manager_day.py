"""The manager's day in a real headless chromium: the machine monitor's history charts grow
live, the fleet list sorts and follows statuses live, and a bunker going low shows a badge
live on the map and the monitor. Desktop and a 390 px phone; screenshots in
test-artifacts/screenshots/manager-*.png."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE, in_thread, screenshot
from tests.factories import make_reading

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.postgres]


def now_iso(offset_seconds: float = 0) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=offset_seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def post_telemetry(server, key: str, reading: dict) -> None:
    response = httpx.post(f"{server.url}/api/v1/telemetry/", json=reading,
                          headers={"Authorization": f"Device {key}"}, timeout=10)
    assert response.status_code in (200, 201), response.text


def chart_points(page, name: str) -> int:
    return int(page.locator(f'[data-chart="{name}"]').get_attribute("data-points") or "0")


def assert_no_sideways_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
        "the page scrolls sideways")


@pytest.fixture
def history(people, fleet):
    """Readings of the personas' machine over the last two days (one per 2 h)."""
    now = datetime.now(UTC)
    for hours in range(2, 48, 2):
        make_reading(people.machine, timestamp=now - timedelta(hours=hours),
                     temperature=20 + hours % 5, humidity=40 + hours % 7,
                     bunker_levels=[
                         {"bunkerId": str(people.coffee.id), "currentLevel": 900 - hours * 10},
                         {"bunkerId": str(people.milk.id), "currentLevel": 1800 - hours * 5},
                     ])


def test_the_monitor_charts_the_history_and_grow_live(people, history, device_key, browser):
    page = browser.signed_in(people.manager, f"/machines/{people.machine.id}/")
    history_card = page.locator("#history")
    expect(history_card).to_have_attribute("data-loaded", "true")
    # 24 h: the readings of the last day (one per 2 h, each in its own 5-minute bucket),
    # plus the fixture's reading of now.
    expect(page.locator('[data-chart="temperature"]')).to_have_attribute("data-points", "12")
    assert chart_points(page, "bunkers") == 12
    expect(page.locator('[data-chart="bunkers"] .u-legend')).to_contain_text("Coffee")
    expect(page.locator('[data-chart="bunkers"] .u-legend')).to_contain_text("Milk powder")

    page.click('[data-period="7d"]')
    expect(page.locator('[data-period="7d"]')).to_have_attribute("aria-pressed", "true")
    expect(page.locator('[data-chart="temperature"]')).to_have_attribute("data-points", "24")

    post_telemetry(browser.server, device_key, {
        "machineId": str(people.machine.id), "timestamp": now_iso(1), "status": "online",
        "temperature": 27.5, "humidity": 52.0,
        "bunkers": [{"bunkerId": str(people.coffee.id), "currentLevel": 500}],
    })
    expect(page.locator('[data-chart="temperature"]')).to_have_attribute("data-points", "25")
    expect(page.locator('[data-chart="humidity"]')).to_have_attribute("data-points", "25")
    expect(page.locator('[data-chart="bunkers"]')).to_have_attribute("data-points", "25")
    page.locator("#history").scroll_into_view_if_needed()
    screenshot(page, "manager-monitor-history", full_page=True)

    phone = browser.signed_in(people.manager, f"/machines/{people.machine.id}/", viewport=PHONE)
    expect(phone.locator("#history")).to_have_attribute("data-loaded", "true")
    # The posted reading and the fixture's one of now may share a 5-minute bucket.
    assert chart_points(phone, "temperature") in (12, 13)
    canvas_width = phone.locator('[data-chart="temperature"] canvas').evaluate(
        "(canvas) => canvas.getBoundingClientRect().width")
    assert 250 <= canvas_width <= PHONE["width"]
    assert_no_sideways_scroll(phone)
    phone.locator("#history").scroll_into_view_if_needed()
    screenshot(phone, "manager-monitor-history-phone", full_page=True)


def test_a_bunker_going_low_shows_a_badge_live_on_the_map_and_the_monitor(
        people, fleet, device_key, browser):
    map_page = browser.signed_in(people.manager, "/map/")
    monitor = browser.signed_in(people.manager, f"/machines/{people.machine.id}/")
    pin = map_page.locator(f'.pin[data-machine-id="{people.machine.id}"]')
    expect(pin).to_be_visible()
    expect(pin).not_to_have_class("pin-low")
    expect(monitor.locator("#low-badge")).to_be_hidden()

    post_telemetry(browser.server, device_key, {
        "machineId": str(people.machine.id), "timestamp": now_iso(1), "status": "online",
        "bunkers": [{"bunkerId": str(people.coffee.id), "currentLevel": 100}],  # 10 %
    })
    expect(monitor.locator("#low-badge")).to_have_text("⚠ Low: Coffee")
    expect(map_page.locator(f'.pin[data-machine-id="{people.machine.id}"]')).to_have_class(
        "pin status-online pin-low")
    item = map_page.locator(f'.machine-item[data-machine-id="{people.machine.id}"]')
    expect(item.locator(".low-badge")).to_be_visible()
    screenshot(map_page, "manager-map-low-badge")
    screenshot(monitor, "manager-monitor-low-badge")

    # A refill clears the monitor's badge with the next reading.
    post_telemetry(browser.server, device_key, {
        "machineId": str(people.machine.id), "timestamp": now_iso(2), "status": "online",
        "bunkers": [{"bunkerId": str(people.coffee.id), "currentLevel": 950}],
    })
    expect(monitor.locator("#low-badge")).to_be_hidden()


def test_a_machine_already_low_has_its_badge_when_the_pages_open(people, fleet, browser):
    people.coffee.current_level_grams = 50  # 5 %, before the pages open
    in_thread(people.coffee.save)
    map_page = browser.signed_in(people.manager, "/map/")
    expect(map_page.locator(f'.pin[data-machine-id="{people.machine.id}"]')).to_have_class(
        "pin status-online pin-low")
    monitor = browser.signed_in(people.manager, f"/machines/{people.machine.id}/")
    expect(monitor.locator("#low-badge")).to_have_text("⚠ Low: Coffee")


def fleet_names(page) -> list[str]:
    return page.locator("#fleet-rows .fleet-name").all_inner_texts()


def test_the_fleet_list_sorts_searches_and_follows_statuses_live(people, fleet, device_key,
                                                                 browser):
    page = browser.signed_in(people.manager, "/fleet/")
    expect(page.locator("#fleet")).to_have_attribute("data-loaded", "true")
    expect(page.locator("#fleet-rows .fleet-row")).to_have_count(5)  # not the rival's
    assert fleet_names(page) == sorted(fleet_names(page))
    expect(page.locator(".nav-link.active")).to_have_text("Fleet")

    # The personas' machine has bunkers (75 %: milk); the fixture's others have none.
    page.click('[data-sort="lowest_bunker_percent"]')
    expect(page.locator('th[data-column="lowest_bunker_percent"]')).to_have_attribute(
        "aria-sort", "ascending")
    expect(page.locator("#fleet-rows .fleet-row").first).to_have_attribute(
        "data-machine-id", str(people.machine.id))
    page.click('[data-sort="lowest_bunker_percent"]')
    expect(page.locator('th[data-column="lowest_bunker_percent"]')).to_have_attribute(
        "aria-sort", "descending")
    expect(page.locator("#fleet")).to_have_attribute("data-ordering", "-lowest_bunker_percent")
    # Machines without bunkers stay last both ways.
    expect(page.locator("#fleet-rows .fleet-row").first).to_have_attribute(
        "data-machine-id", str(people.machine.id))

    page.click('[data-sort="name"]')
    expect(page.locator("#fleet")).to_have_attribute("data-ordering", "name")
    page.fill("#fleet-search", "espresso")
    expect(page.locator("#fleet-rows .fleet-name")).to_have_text(["Mirobod Espresso"])
    page.fill("#fleet-search", "")
    expect(page.locator("#fleet-rows .fleet-row")).to_have_count(5)

    row = page.locator(f'.fleet-row[data-machine-id="{people.machine.id}"]')
    expect(row).to_have_attribute("data-status", "online")
    post_telemetry(browser.server, device_key, {
        "machineId": str(people.machine.id), "timestamp": now_iso(1), "status": "error",
        "bunkers": [{"bunkerId": str(people.coffee.id), "currentLevel": 100}],  # 10 %: low
        "errors": [{"code": "E-BREW", "message": "Brewer unit jammed", "severity": "error"}],
    })
    expect(row).to_have_attribute("data-status", "error")
    # The bunker going low refetches the list: the level and the error count follow.
    expect(row.locator(".cell-level")).to_have_attribute("data-low", "true")
    expect(row.locator(".cell-errors")).to_have_text("1")
    screenshot(page, "manager-fleet")

    phone = browser.signed_in(people.manager, "/fleet/", viewport=PHONE)
    expect(phone.locator("#fleet-rows .fleet-row")).to_have_count(5)
    phone.select_option("#fleet-ordering", "-open_errors")
    expect(phone.locator("#fleet")).to_have_attribute("data-ordering", "-open_errors")
    expect(phone.locator("#fleet-rows .fleet-row").first).to_have_attribute(
        "data-machine-id", str(people.machine.id))
    assert_no_sideways_scroll(phone)
    screenshot(phone, "manager-fleet-phone", full_page=True)


def test_the_fleet_page_needs_a_session(people, browser):
    page = browser.new_page()
    page.goto("/fleet/")
    expect(page).to_have_url(f"{browser.server.url}/login/?next=/fleet/")
