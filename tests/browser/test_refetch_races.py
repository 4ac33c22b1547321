"""A REST refetch racing a live event, made deterministic: every page refetches its state
after each connect and on a server `resync`, and the answer of a fetch the server made
before a change may reach the page after that change's event. The page must keep the
newer, live state (this race made the task board test flaky).

The page's next matching fetch gets its answer from the server at once (so it is stale once
the change is made) but hands it over only when the test releases it.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from machines.models import Priority
from tests.browser.conftest import in_thread
from tests.browser.test_dashboard import card, in_column, now_iso, post_telemetry
from tests.factories import make_notification

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.postgres]

HOLD_NEXT_FETCH = """(prefix) => {
    const realFetch = window.fetch;
    window.__heldFetchAnswered = false;
    window.fetch = async (url, options) => {
        if (!String(url).startsWith(prefix)) return realFetch(url, options);
        window.fetch = realFetch;
        const response = await realFetch(url, options);
        const body = await response.text();
        window.__heldFetchAnswered = true;
        await new Promise((resolve) => { window.__releaseHeldFetch = resolve; });
        return new Response(body, {status: response.status, headers: response.headers});
    };
}"""

#: What the gateway asks of every page after it lost events (realtime/server/hub.py); the page
#: refetches its state and then dispatches `realtime:synced`.
RESYNC = """() => {
    window.__synced = new Promise((resolve) =>
        document.addEventListener("realtime:synced", resolve, {once: true}));
    for (const listener of window.vendhubRealtime.socket.listeners("resync")) {
        listener({reason: "redis-reconnected"});
    }
}"""


def refetch_held(page, url_prefix: str) -> None:
    """Start a refetch whose fetch of `url_prefix…` is answered by the server now and held."""
    page.evaluate(HOLD_NEXT_FETCH, url_prefix)
    page.evaluate(RESYNC)
    page.wait_for_function("() => window.__heldFetchAnswered")


def release_refetch(page) -> None:
    """Hand the held (stale) answer to the page and wait until the refetch is applied."""
    page.evaluate("() => window.__releaseHeldFetch()")
    page.evaluate("() => window.__synced")


def test_a_late_board_refetch_does_not_move_cards_back(people, tasks, api_as, browser):
    manager = api_as(people.manager)
    page = browser.signed_in(people.operator, "/tasks/")
    page.wait_for_selector("#board[data-loaded=true]")
    refetch_held(page, "/api/v1/tasks/?")

    manager.patch(f"/api/v1/tasks/{tasks['clean'].id}/", {"status": "in_progress"})
    manager.patch(f"/api/v1/tasks/{tasks['refill'].id}/", {"assignee": None})
    manager.patch(f"/api/v1/tasks/{tasks['others'].id}/", {"assignee": people.operator.pk})
    expect(in_column(page, tasks["clean"], "in_progress")).to_be_visible()
    expect(card(page, tasks["refill"])).to_have_count(0)
    expect(in_column(page, tasks["others"], "todo")).to_be_visible()
    untouched = card(page, tasks["collect"]).element_handle()

    release_refetch(page)
    expect(in_column(page, tasks["clean"], "in_progress")).to_be_visible()
    expect(card(page, tasks["refill"])).to_have_count(0)
    expect(in_column(page, tasks["others"], "todo")).to_be_visible()
    expect(page.locator('[data-column-count="todo"]').first).to_have_text("1")
    # An unchanged card keeps its element (a drag under way is not cut short).
    assert untouched.evaluate("el => el.isConnected") is True


def test_a_late_unread_count_does_not_lose_a_live_notification(people, browser):
    make = lambda **fields: make_notification(people.manager, people.acme, **fields)  # noqa: E731
    in_thread(make, title="Coffee is low", priority=Priority.MEDIUM)
    page = browser.signed_in(people.manager, "/map/")
    badge = page.locator("#unread-count")
    expect(badge).to_have_text("1")

    refetch_held(page, "/api/v1/notifications/?read=false")
    in_thread(make, title="Critical error E-BREW", priority=Priority.HIGH, type="error")
    expect(page.locator(".toast .toast-title")).to_have_text("Critical error E-BREW")
    expect(badge).to_have_text("2")
    release_refetch(page)  # its count (1) predates the notification
    expect(badge).to_have_text("2")
    expect(page.locator(".toast")).to_have_count(1)


def test_a_late_fleet_refetch_does_not_undo_a_live_marker_colour(people, fleet, device_key,
                                                                 browser):
    page = browser.signed_in(people.manager, "/map/")
    page.wait_for_selector("#map[data-loaded=true]")
    pin = page.locator(f'.pin[data-machine-id="{people.machine.id}"]')
    expect(pin).to_have_attribute("data-status", "online")
    refetch_held(page, "/api/v1/machines/?withLocation=true")

    post_telemetry(browser.server, device_key, {
        "machineId": str(people.machine.id), "timestamp": now_iso(), "status": "maintenance",
    })
    expect(pin).to_have_attribute("data-status", "maintenance")
    release_refetch(page)  # its list still says online
    expect(pin).to_have_attribute("data-status", "maintenance")
    expect(pin).to_have_class("pin status-maintenance")
