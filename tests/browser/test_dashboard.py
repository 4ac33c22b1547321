"""The dashboard in a real headless chromium against the product server: sign in, the live
map, the machine monitor, the notification centre, the task board, reconnects, languages,
phones. Screenshots of every page land in test-artifacts/screenshots/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import expect

from machines.models import Priority, Task, TaskStatus
from notifications.models import Notification
from tests.browser.conftest import PHONE, in_thread, login, screenshot, wait_live
from tests.factories import (
    make_machine_error,
    make_notification,
    make_reading,
)

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.postgres]


def now_iso(offset_seconds: float = 0) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=offset_seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def post_telemetry(server, key: str, reading: dict) -> dict:
    response = httpx.post(
        f"{server.url}/api/v1/telemetry/", json=reading,
        headers={"Authorization": f"Device {key}"}, timeout=10,
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


# -- sign in ------------------------------------------------------------------------------------


def test_login_form_signs_in_and_lands_on_the_live_map(people, browser):
    page = browser.new_page()
    page.goto("/")
    expect(page).to_have_url(f"{browser.server.url}/login/?next=/map/")
    screenshot(page, "login")

    page.fill("#id_username", people.manager.username)
    page.fill("#id_password", "not-the-password")
    page.click("#login-form button[type=submit]")
    expect(page.locator(".alert-error")).to_be_visible()
    screenshot(page, "login-error")

    page.fill("#id_password", "correct-horse-battery")
    page.click("#login-form button[type=submit]")
    page.wait_for_url("**/map/")
    wait_live(page)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    expect(page.locator(".nav-link.active")).to_have_text("Live map")


def test_signing_out_ends_the_session(people, browser):
    page = browser.signed_in(people.operator, "/tasks/")
    page.click(".logout-form button")
    page.wait_for_url("**/login/")
    page.goto("/tasks/")
    expect(page).to_have_url(f"{browser.server.url}/login/?next=/tasks/")


# -- live map ---------------------------------------------------------------------------------


def test_map_shows_the_organizations_markers_and_none_of_another(people, fleet, browser):
    page = browser.signed_in(people.manager, "/map/")
    page.wait_for_selector("#map[data-loaded=true]")

    pins = page.locator(".leaflet-marker-pane .pin")
    expect(pins).to_have_count(1 + len(fleet))
    expect(page.locator(f'.pin[data-machine-id="{people.rival_machine.id}"]')).to_have_count(0)
    assert "Rival Secret Machine" not in page.content()
    for machine in [people.machine, *fleet]:
        pin = page.locator(f'.pin[data-machine-id="{machine.id}"]')
        expect(pin).to_have_class(f"pin status-{machine.status}")
    # Colours by status: online green, offline red, maintenance amber, error dark red.
    colours = {
        status: page.locator(f".leaflet-marker-pane .pin.status-{status}").first.evaluate(
            "el => getComputedStyle(el).backgroundColor")
        for status in ("online", "offline", "maintenance", "error")
    }
    assert colours == {
        "online": "rgb(16, 185, 129)",
        "offline": "rgb(239, 68, 68)",
        "maintenance": "rgb(245, 158, 11)",
        "error": "rgb(153, 27, 27)",
    }
    expect(page.locator('[data-count-for="online"]')).to_have_text("2")
    expect(page.locator("#machine-list .machine-item")).to_have_count(1 + len(fleet))

    # No tile could load (no internet, everything outside is blocked): markers still show,
    # and nothing but tiles was requested from outside (no CDN).
    # Leaflet did ask the tile server of the settings, and those tiles failed.
    page.wait_for_function("""() => [...document.querySelectorAll("img.leaflet-tile")].some(
        (img) => img.src.startsWith("https://tile.openstreetmap.org/")
            && img.complete && img.naturalWidth === 0)""")
    assert all("tile.openstreetmap.org" in url for url in browser.outside_requests), (
        browser.outside_requests)

    page.locator(f'.pin[data-machine-id="{people.machine.id}"]').click()
    popup = page.locator(".leaflet-popup .popup")
    expect(popup.locator(".popup-title")).to_have_text("Amir Temur Square")
    expect(popup.locator(".status-pill")).to_have_text("Online")
    expect(popup.locator(".popup-last-seen")).to_have_text("3 min ago")
    screenshot(page, "map")
    popup.locator("a.button").click()
    page.wait_for_url(f"**/machines/{people.machine.id}/")


def test_monitor_of_another_organizations_machine_is_not_found(people, browser):
    page = browser.signed_in(people.manager, "/map/")
    response = page.goto(f"/machines/{people.rival_machine.id}/")
    assert response.status == 404


# -- telemetry, live --------------------------------------------------------------------------


def test_posting_telemetry_changes_a_bunker_bar_and_a_marker_colour_without_reload(
    people, fleet, device_key, browser
):
    map_page = browser.signed_in(people.manager, "/map/")
    monitor = browser.signed_in(people.manager, f"/machines/{people.machine.id}/")
    monitor.wait_for_selector("#monitor[data-loaded=true]")
    coffee = monitor.locator(f'.bunker[data-bunker-id="{people.coffee.id}"]')
    expect(coffee.locator(".bar-fill")).to_have_class("bar-fill level-ok")
    expect(coffee.locator(".flag-low")).to_have_count(0)
    expect(monitor.locator("#temperature-value")).to_have_text("22.4 °C")
    expect(monitor.locator("#uptime-value")).to_have_text("1 d 2 h")
    pin = map_page.locator(f'.pin[data-machine-id="{people.machine.id}"]')
    expect(pin).to_have_attribute("data-status", "online")
    screenshot(monitor, "monitor-before")

    # Marker the pages so a reload would be noticed.
    for page in (map_page, monitor):
        page.evaluate("window.__noReload = true")

    post_telemetry(browser.server, device_key, {
        "machineId": str(people.machine.id),
        "timestamp": now_iso(),
        "status": "error",
        "temperature": 34.5,
        "humidity": 55.0,
        "uptime": 93600,
        "bunkers": [
            {"bunkerId": str(people.coffee.id), "currentLevel": 120},  # 12 %: red, low
            {"bunkerId": str(people.milk.id), "currentLevel": 700},  # 35 %: yellow
        ],
        "errors": [{"code": "E-BREW", "message": "Brewer unit jammed", "severity": "critical"}],
    })

    expect(coffee.locator(".bar-fill")).to_have_class("bar-fill level-low")
    expect(coffee.locator(".bunker-percent")).to_have_text("12 %")
    expect(coffee.locator(".flag-low")).to_be_visible()
    milk = monitor.locator(f'.bunker[data-bunker-id="{people.milk.id}"]')
    expect(milk.locator(".bar-fill")).to_have_class("bar-fill level-mid")
    expect(monitor.locator("#temperature-card")).to_have_class("card sensor sensor-warning")
    expect(monitor.locator("#humidity-card")).not_to_have_class("card sensor sensor-warning")
    expect(monitor.locator("#machine-status")).to_have_attribute("data-status", "error")
    expect(monitor.locator("#errors .error-item")).to_have_count(1)
    expect(monitor.locator("#last-update")).to_contain_text("s ago")

    expect(pin).to_have_attribute("data-status", "error")
    # The reading also left the coffee bunker low: the pin carries the low-stock badge too.
    expect(pin).to_have_class("pin status-error pin-low")
    expect(map_page.locator('[data-count-for="error"]')).to_have_text("2")
    for page in (map_page, monitor):
        assert page.evaluate("window.__noReload") is True
    screenshot(monitor, "monitor")
    screenshot(map_page, "map-after-telemetry")


# -- notifications ------------------------------------------------------------------------------


def test_high_priority_notification_shows_a_toast_and_bumps_the_unread_count(people, browser):
    make = lambda **fields: make_notification(people.manager, people.acme, **fields)  # noqa: E731
    in_thread(make, title="Weekly report ready", priority=Priority.LOW, read=True)
    in_thread(make, title="Coffee is low at Amir Temur Square", priority=Priority.MEDIUM)
    page = browser.signed_in(people.manager, "/map/")
    badge = page.locator("#unread-count")
    expect(badge).to_have_text("1")

    in_thread(
        make, title="Critical error E-BREW", message="Brewer unit jammed at Amir Temur Square",
        priority=Priority.HIGH, type="error", machine=people.machine,
    )
    toast = page.locator(".toast")
    expect(toast).to_have_count(1)
    expect(toast.locator(".toast-title")).to_have_text("Critical error E-BREW")
    expect(toast).to_have_class("toast toast-error")
    expect(badge).to_have_text("2")
    screenshot(page, "notification-toast")

    # A medium one is counted and listed, without a toast.
    in_thread(make, title="Cleaning due", priority=Priority.MEDIUM)
    expect(badge).to_have_text("3")
    expect(page.locator(".toast")).to_have_count(1)

    page.click("#bell-button")
    items = page.locator("#notification-list .notification")
    expect(items).to_have_count(4)
    expect(items.first.locator(".notification-title")).to_have_text("Cleaning due")
    screenshot(page, "notification-dropdown")

    page.locator('.notification:has-text("Critical error E-BREW") .mark-read').click()
    expect(badge).to_have_text("2")
    page.click("#mark-all-read")
    expect(badge).to_be_hidden()
    expect(page.locator("#notification-list .notification.unread")).to_have_count(0)
    unread = Notification.objects.filter(recipient=people.manager, read=False)
    assert in_thread(unread.count) == 0


def test_the_bell_is_on_every_page(people, browser):
    in_thread(make_notification, people.operator, people.acme, title="Refill at Amir Temur Square")
    for path in ("/map/", "/tasks/", f"/machines/{people.machine.id}/"):
        page = browser.signed_in(people.operator, path)
        expect(page.locator("#unread-count")).to_have_text("1")


def test_reading_notifications_on_one_device_updates_the_count_on_another(people, browser):
    make = lambda **fields: make_notification(people.manager, people.acme, **fields)  # noqa: E731
    in_thread(make, title="Coffee is low at Amir Temur Square")
    in_thread(make, title="Cleaning due")
    in_thread(make, title="Inspection due")
    phone = browser.signed_in(people.manager, "/tasks/")
    desk = browser.signed_in(people.manager, "/map/")
    for page in (phone, desk):
        expect(page.locator("#unread-count")).to_have_text("3")
    desk.click("#bell-button")
    expect(desk.locator("#notification-list .notification.unread")).to_have_count(3)

    phone.click("#bell-button")
    phone.locator('.notification:has-text("Coffee is low") .mark-read').click()
    expect(phone.locator("#unread-count")).to_have_text("2")
    expect(desk.locator("#unread-count")).to_have_text("2")
    expect(desk.locator("#notification-list .notification.unread")).to_have_count(2)

    phone.click("#mark-all-read")
    expect(desk.locator("#unread-count")).to_be_hidden()
    expect(desk.locator("#notification-list .notification.unread")).to_have_count(0)
    expect(phone.locator("#unread-count")).to_be_hidden()


# -- task board ---------------------------------------------------------------------------------


def card(page, task: Task):
    return page.locator(f'.task-card[data-task-id="{task.id}"]')


def wait_task_status(page, task: Task, status: str) -> None:
    """Until the REST API (as the page's session sees it) reports `status` for `task`."""
    page.wait_for_function(
        """([id, status]) => fetch(`/api/v1/tasks/${id}/`)
            .then((r) => r.json()).then((t) => t.status === status)""",
        arg=[str(task.id), status],
    )


def stored_status(task: Task) -> str:
    return in_thread(lambda: Task.objects.get(pk=task.pk).status)


def in_column(page, task: Task, status: str):
    """The card of `task` in the column `status` (retried by `expect`, unlike a one-off
    look at whatever column the card is in while the board may be re-rendering)."""
    return page.locator(f'[data-cards-for="{status}"] [data-task-id="{task.id}"]')


def test_operator_board_shows_own_cards_in_their_columns(people, tasks, browser):
    page = browser.signed_in(people.operator, "/tasks/")
    page.wait_for_selector("#board[data-loaded=true]")
    expect(page.locator("#operator-select")).to_have_count(0)  # operators see their own board
    expect(page.locator('[data-cards-for="todo"] .task-card')).to_have_count(2)
    expect(page.locator('[data-cards-for="in_progress"] .task-card')).to_have_count(1)
    expect(page.locator('[data-cards-for="done"] .task-card')).to_have_count(1)
    expect(card(page, tasks["others"])).to_have_count(0)
    refill = card(page, tasks["refill"])
    expect(refill.locator(".task-machine")).to_have_text("Amir Temur Square")
    expect(refill.locator(".tag-kind")).to_have_text("Refill")
    expect(refill.locator(".tag-high")).to_have_text("High")
    expect(refill.locator(".task-due time")).to_be_visible()
    # Soonest due first.
    expect(page.locator('[data-cards-for="todo"] .task-card').first).to_have_attribute(
        "data-task-id", str(tasks["refill"].id))
    screenshot(page, "tasks")


def test_moving_a_card_changes_the_task_status_over_rest(people, tasks, browser):
    page = browser.signed_in(people.operator, "/tasks/")
    page.wait_for_selector("#board[data-loaded=true]")
    # What the board sent and was answered, for the failure message below.
    sent: list[str] = []
    page.on("response", lambda r: sent.append(f"{r.request.method} {r.url} "
                                              f"{r.request.post_data} -> {r.status}")
            if r.request.method != "GET" else None)

    card(page, tasks["refill"]).locator('[data-move-to="in_progress"]').click()
    expect(page.locator(f'[data-cards-for="in_progress"] [data-task-id="{tasks["refill"].id}"]')
           ).to_be_visible()
    wait_task_status(page, tasks["refill"], "in_progress")
    assert stored_status(tasks["refill"]) == TaskStatus.IN_PROGRESS

    # Drag and drop on a desktop: in progress -> done.
    card(page, tasks["collect"]).drag_to(page.locator('.column[data-status="done"]'))
    expect(page.locator(f'[data-cards-for="done"] [data-task-id="{tasks["collect"].id}"]')
           ).to_be_visible()
    wait_task_status(page, tasks["collect"], "done")
    collected = in_thread(lambda: Task.objects.get(pk=tasks["collect"].pk))
    assert collected.status == TaskStatus.DONE and collected.completed_at is not None, sent


def test_a_card_moves_column_when_a_manager_changes_the_task(people, tasks, api_as, browser):
    manager = api_as(people.manager)
    page = browser.signed_in(people.operator, "/tasks/")
    page.wait_for_selector("#board[data-loaded=true]")
    page.evaluate("window.__noReload = true")
    expect(in_column(page, tasks["clean"], "todo")).to_be_visible()

    # The board may still be refetching (every connect is followed by one): whatever that
    # fetch answers, and whenever, the live changes below must stick.
    manager.patch(f"/api/v1/tasks/{tasks['clean'].id}/", {"status": "in_progress"})
    expect(in_column(page, tasks["clean"], "in_progress")).to_be_visible()
    expect(page.locator('[data-column-count="in_progress"]').first).to_have_text("2")

    manager.patch(f"/api/v1/tasks/{tasks['clean'].id}/", {"status": "done"})
    expect(in_column(page, tasks["clean"], "done")).to_be_visible()

    # Given to nobody: the card leaves this operator's board; cancelled: gone too.
    manager.patch(f"/api/v1/tasks/{tasks['refill'].id}/", {"assignee": None})
    expect(card(page, tasks["refill"])).to_have_count(0)
    manager.patch(f"/api/v1/tasks/{tasks['collect'].id}/", {"status": "cancelled"})
    expect(card(page, tasks["collect"])).to_have_count(0)
    # Assigned to this operator: it appears.
    manager.patch(f"/api/v1/tasks/{tasks['others'].id}/", {"assignee": people.operator.pk})
    expect(in_column(page, tasks["others"], "todo")).to_be_visible()
    assert page.evaluate("window.__noReload") is True
    screenshot(page, "tasks-after-manager-change")


def test_a_manager_picks_an_operator_and_moves_their_cards(people, tasks, browser):
    page = browser.signed_in(people.manager, "/tasks/")
    page.wait_for_selector("#board[data-loaded=true]")
    picker = page.locator("#operator-select")
    expect(picker.locator("option")).to_have_text([people.operator.username])
    expect(page.locator(".task-card")).to_have_count(4)
    card(page, tasks["clean"]).locator('[data-move-to="done"]').click()
    expect(page.locator(f'[data-cards-for="done"] [data-task-id="{tasks["clean"].id}"]')
           ).to_be_visible()
    wait_task_status(page, tasks["clean"], "done")
    screenshot(page, "tasks-manager")


def test_a_manager_switching_operators_follows_the_new_board_live(people, tasks, api_as,
                                                                 second_operator, browser):
    other, other_task = second_operator
    manager = api_as(people.manager)
    page = browser.signed_in(people.manager, "/tasks/")
    page.wait_for_selector("#board[data-loaded=true]")
    expect(page.locator("#operator-select option")).to_have_text(
        [people.operator.username, other.username])

    page.select_option("#operator-select", str(other.pk))
    page.wait_for_selector("#board[data-loaded=true]")
    expect(page).to_have_url(f"{browser.server.url}/tasks/?operator={other.pk}")
    expect(page.locator(".task-card")).to_have_count(1)
    expect(in_column(page, other_task, "todo")).to_be_visible()
    # The page left the first operator's room and joined the second's.
    page.wait_for_function(
        """([left, joined]) => {
            const rooms = window.vendhubRealtime.rooms;
            return !(left in rooms) && rooms[joined] === "subscribed";
        }""",
        arg=[f"tasks:{people.operator.pk}", f"tasks:{other.pk}"],
    )

    manager.patch(f"/api/v1/tasks/{tasks['clean'].id}/", {"status": "done"})  # first's board
    manager.patch(f"/api/v1/tasks/{other_task.id}/", {"status": "in_progress"})
    expect(in_column(page, other_task, "in_progress")).to_be_visible()
    expect(page.locator(".task-card")).to_have_count(1)
    screenshot(page, "tasks-manager-other-operator")


# -- reconnects -------------------------------------------------------------------------------


def test_after_a_reconnect_the_page_resubscribes_and_refetches(people, tasks, device_key,
                                                               browser):
    page = browser.signed_in(people.operator, f"/machines/{people.machine.id}/")
    page.wait_for_selector("#monitor[data-loaded=true]")
    expect(page.locator("#unread-count")).to_be_hidden()

    # Drop the transport; the client retries after a fixed 3 s, and meanwhile events are
    # missed: a notification and new telemetry.
    page.evaluate("""() => {
        const manager = window.vendhubRealtime.socket.io;
        manager.reconnectionDelay(3000);
        manager.reconnectionDelayMax(3000);
        manager.randomizationFactor(0);
        manager.engine.close();
    }""")
    expect(page.locator("#connection")).to_have_attribute("data-state", "reconnecting")
    in_thread(make_notification, people.operator, people.acme, title="Missed while away")
    post_telemetry(browser.server, device_key, {
        "machineId": str(people.machine.id), "timestamp": now_iso(), "status": "online",
        "bunkers": [{"bunkerId": str(people.coffee.id), "currentLevel": 300}],
    })
    coffee = page.locator(f'.bunker[data-bunker-id="{people.coffee.id}"]')
    expect(coffee.locator(".bunker-percent")).to_have_text("80 %")  # not live: disconnected

    # Back: rooms subscribed again, state refetched over REST.
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=15_000)
    wait_live(page)
    expect(page.locator("#unread-count")).to_have_text("1")
    expect(coffee.locator(".bunker-percent")).to_have_text("30 %")
    expect(coffee.locator(".bar-fill")).to_have_class("bar-fill level-mid")

    # And live again on the re-subscribed rooms.
    post_telemetry(browser.server, device_key, {
        "machineId": str(people.machine.id), "timestamp": now_iso(1), "status": "online",
        "bunkers": [{"bunkerId": str(people.coffee.id), "currentLevel": 900}],
    })
    expect(coffee.locator(".bunker-percent")).to_have_text("90 %")
    in_thread(make_notification, people.operator, people.acme, title="Live again",
              priority=Priority.HIGH)
    expect(page.locator(".toast .toast-title")).to_have_text("Live again")


def test_a_socket_closed_by_the_server_reconnects_with_a_fresh_token(people, tasks, api_as,
                                                                   browser):
    manager = api_as(people.manager)
    page = browser.signed_in(people.operator, "/tasks/")
    page.wait_for_selector("#board[data-loaded=true]")
    token_requests: list[str] = []
    page.on("request", lambda request: token_requests.append(request.url)
            if request.url.endswith("/dashboard/token/") else None)
    reasons = page.evaluate_handle("""() => {
        const reasons = [];
        window.vendhubRealtime.socket.on("disconnect", (reason) => reasons.push(reason));
        return reasons;
    }""")

    # What the gateway sends when the access token expires: a Socket.IO DISCONNECT. The
    # client library does not reconnect by itself after that; the page must.
    page.evaluate("() => window.vendhubRealtime.socket.onpacket({ type: 1, nsp: '/' })")
    page.wait_for_function("r => r.includes('io server disconnect')", arg=reasons)
    page.wait_for_function("() => window.vendhubRealtime.socket.connected", timeout=15_000)
    wait_live(page)
    assert token_requests, "the reconnect did not fetch a new token"

    manager.patch(f"/api/v1/tasks/{tasks['clean'].id}/", {"status": "in_progress"})
    expect(page.locator(f'[data-cards-for="in_progress"] [data-task-id="{tasks["clean"].id}"]')
           ).to_be_visible()


def test_the_connection_indicator_shows_offline_then_live_again(people, browser):
    page = browser.signed_in(people.operator, "/map/")
    indicator = page.locator("#connection")
    expect(indicator.locator(".conn-label")).to_have_text("Live")
    page.context.set_offline(True)
    expect(indicator).to_have_attribute("data-state", "offline")
    expect(indicator.locator(".conn-label")).to_have_text("Offline")
    screenshot(page, "connection-offline")
    page.context.set_offline(False)
    expect(indicator).to_have_attribute("data-state", "live", timeout=15_000)
    wait_live(page)


def test_the_token_is_refreshed_on_the_open_socket(people, browser):
    page = browser.signed_in(people.operator, "/map/")
    sid = page.evaluate("() => window.vendhubRealtime.socket.id")
    assert page.evaluate("() => window.vendhubRealtime.refreshToken()") is True
    assert page.evaluate("() => window.vendhubRealtime.socket.id") == sid  # same connection
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")


# -- languages ------------------------------------------------------------------------------------


def test_the_interface_switches_to_russian_and_back(people, tasks, browser):
    page = browser.signed_in(people.operator, "/tasks/")
    page.wait_for_selector("#board[data-loaded=true]")
    page.select_option("#language-select", "ru")
    page.wait_for_load_state()
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    wait_live(page)
    page.wait_for_selector("#board[data-loaded=true]")
    expect(page.locator(".nav-link.active")).to_have_text("Задачи")
    expect(page.locator("#column-in_progress-title")).to_have_text("В работе")
    refill = card(page, tasks["refill"])
    expect(refill.locator('[data-move-to="in_progress"]')).to_have_text("Начать")  # JS catalog
    expect(refill.locator(".tag-kind")).to_have_text("Пополнение")
    expect(page.locator("#connection")).to_have_attribute("title", "На связи")
    screenshot(page, "tasks-ru")

    page.goto(f"/machines/{people.machine.id}/")
    page.wait_for_selector("#monitor[data-loaded=true]")
    expect(page.locator("h2.card-title").first).to_have_text("Уровень ингредиентов")
    screenshot(page, "monitor-ru")

    page.select_option("#language-select", "en")
    page.wait_for_load_state()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h2.card-title").first).to_have_text("Ingredient levels")


def test_login_page_offers_both_languages(people, browser):
    page = browser.new_page()
    page.goto("/login/")
    page.click("button[name=language][value=ru]")
    expect(page.locator("#login-form button[type=submit]")).to_have_text("Войти")
    screenshot(page, "login-ru")
    login(page, people.operator.username, next_path="/tasks/")
    expect(page.locator("h1")).to_have_text("Доска задач")


# -- phones -------------------------------------------------------------------------------------


def assert_no_horizontal_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px screen"


def test_task_board_and_monitor_work_on_a_390px_phone(people, tasks, browser):
    page = browser.signed_in(people.operator, "/tasks/", viewport=PHONE)
    page.wait_for_selector("#board[data-loaded=true]")
    assert_no_horizontal_scroll(page)
    todo = page.locator('.column[data-status="todo"]')
    expect(todo).to_be_visible()
    expect(page.locator('.column[data-status="in_progress"]')).to_be_hidden()
    expect(page.locator('[data-tab-for="todo"] .count-badge')).to_have_text("2")
    screenshot(page, "tasks-phone")

    card(page, tasks["refill"]).locator('[data-move-to="in_progress"]').click()
    expect(page.locator('[data-tab-for="in_progress"] .count-badge')).to_have_text("2")
    page.click('[data-tab-for="in_progress"]')
    expect(page.locator('.column[data-status="in_progress"]')).to_be_visible()
    expect(card(page, tasks["refill"])).to_be_visible()
    screenshot(page, "tasks-phone-in-progress")

    page.goto(f"/machines/{people.machine.id}/")
    page.wait_for_selector("#monitor[data-loaded=true]")
    assert_no_horizontal_scroll(page)
    expect(page.locator(".bunker")).to_have_count(2)
    screenshot(page, "monitor-phone", full_page=True)

    page.goto("/map/")
    page.wait_for_selector("#map[data-loaded=true]")
    assert_no_horizontal_scroll(page)
    screenshot(page, "map-phone")

    page.click("#bell-button")
    expect(page.locator("#notification-panel")).to_be_visible()
    box = page.locator("#notification-panel").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    screenshot(page, "notifications-phone")


def test_monitor_shows_open_errors_and_sensor_warnings_from_rest(people, browser):
    in_thread(make_reading, people.machine, temperature=31.0, humidity=85.0)
    in_thread(make_machine_error, people.machine, code="E-WATER", message="No water pressure",
              severity="warning")
    page = browser.signed_in(people.viewer, f"/machines/{people.machine.id}/")
    page.wait_for_selector("#monitor[data-loaded=true]")
    expect(page.locator("#temperature-card")).to_have_attribute("data-warning", "true")
    expect(page.locator("#humidity-card")).to_have_attribute("data-warning", "true")
    expect(page.locator("#errors .error-item")).to_have_count(1)
    expect(page.locator("#errors .error-item")).to_contain_text("E-WATER")
    expect(page.locator("#errors-count")).to_have_text("1")
