"""A live sale in chromium: a manager has the map's popup (or the fleet list) open, the
machine posts a vend with its device key, and the page shows the new revenue today and the
time of the last sale without a reload, from the `machines:all` room it already watches (no
machine room joined)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import expect

from tests.sales.conftest import vend_body

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.postgres]


def post_vend(server, key: str, body: dict) -> None:
    response = httpx.post(f"{server.url}/api/v1/sales/", json=body,
                          headers={"Authorization": f"Device {key}"}, timeout=10)
    assert response.status_code == 201, response.text


def formatted(page, amount: int) -> str:
    """The amount as the pages format money (revenue.js), in the page's language."""
    return page.evaluate(
        """(amount) => new Intl.NumberFormat(document.documentElement.lang || "en", {
            style: "currency", currency: "UZS", minimumFractionDigits: 0,
            maximumFractionDigits: 0}).format(amount)""", amount)


def clock(page, iso: str) -> str:
    """"14:05" in the pages' time zone (core.js formatTime)."""
    return page.evaluate(
        """(iso) => new Date(iso).toLocaleTimeString(document.documentElement.lang, {
            hour: "2-digit", minute: "2-digit", timeZone: document.body.dataset.timeZone})""",
        iso)


def rooms(page) -> list[str]:
    return page.evaluate("Object.keys(window.vendhubRealtime.rooms)")


def test_a_vend_updates_the_open_popup_without_a_reload(people, fleet, device_key, browser):
    page = browser.signed_in(people.manager, "/map/")
    page.wait_for_selector("#map[data-loaded=true]")
    page.locator(f'.pin[data-machine-id="{people.machine.id}"]').click()
    popup = page.locator(f'.popup[data-machine-id="{people.machine.id}"]')
    expect(popup.locator(".popup-revenue")).to_have_attribute("data-revenue", "0")
    expect(popup.locator(".popup-last-sale")).to_have_text("never")

    sold_at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    post_vend(browser.server, device_key, vend_body(people.machine, "live-1", selection="55",
                                                   price=15000, at=sold_at))
    expect(popup.locator(".popup-revenue")).to_have_attribute("data-revenue", "15000")
    expect(popup.locator(".popup-revenue")).to_have_text(formatted(page, 15000))
    expect(popup.locator(".popup-last-sale")).to_contain_text(
        clock(page, sold_at.isoformat()))

    post_vend(browser.server, device_key, vend_body(people.machine, "live-2", selection="55",
                                                   price=12000))
    expect(popup.locator(".popup-revenue")).to_have_attribute("data-revenue", "27000")
    assert not any(room.startswith("machine:") for room in rooms(page))
    assert "machines:all" in rooms(page)


def test_a_vend_updates_the_fleet_list_row_live(people, fleet, device_key, browser):
    page = browser.signed_in(people.manager, "/fleet/")
    expect(page.locator("#fleet")).to_have_attribute("data-loaded", "true")
    row = page.locator(f'.fleet-row[data-machine-id="{people.machine.id}"]')
    other = page.locator(f'.fleet-row[data-machine-id="{fleet[0].id}"]')
    expect(row.locator(".cell-revenue")).to_have_attribute("data-revenue", "0")

    sold_at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=3)
    post_vend(browser.server, device_key, vend_body(people.machine, "row-1", selection="55",
                                                   price=9000, at=sold_at))
    expect(row.locator(".cell-revenue")).to_have_attribute("data-revenue", "9000")
    expect(row.locator(".cell-revenue")).to_have_text(formatted(page, 9000))
    expect(row.locator(".last-sale")).to_contain_text(clock(page, sold_at.isoformat()))
    expect(other.locator(".cell-revenue")).to_have_attribute("data-revenue", "0")

    # Sorted by revenue today (the server's order), the selling machine comes first.
    page.click('[data-sort="revenue_today"]')
    page.click('[data-sort="revenue_today"]')
    expect(page.locator("#fleet")).to_have_attribute("data-ordering", "-revenue_today")
    expect(page.locator("#fleet-rows .fleet-row").first).to_have_attribute(
        "data-machine-id", str(people.machine.id))


def test_a_strangers_map_hears_nothing_of_the_sale(people, fleet, device_key, browser):
    page = browser.signed_in(people.stranger, "/map/")
    page.wait_for_selector("#map[data-loaded=true]")
    page.evaluate("""() => {
        window.__revenue = [];
        for (const name of ["machines:revenue", "machine:revenue"]) {
            window.vendhubRealtime.socket.on(name, (data) => window.__revenue.push(data));
        }
    }""")
    post_vend(browser.server, device_key, vend_body(people.machine, "secret", selection="55",
                                                   price=50000))
    page.wait_for_timeout(2500)  # two map ticks
    assert page.evaluate("window.__revenue") == []
    expect(page.locator(f'.pin[data-machine-id="{people.machine.id}"]')).to_have_count(0)
