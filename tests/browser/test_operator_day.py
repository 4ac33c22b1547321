"""The field operator's day on a 390 px phone: sign in, land on the board, see where to go and
what to bring, navigate, mark done; the manager's board and bell follow live."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from machines.models import Priority, TaskKind
from tests.browser.conftest import PHONE, in_thread, screenshot, wait_live
from tests.factories import PASSWORD, make_task

pytestmark = pytest.mark.browser


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_the_operators_day_on_a_phone_reaches_the_manager_live(people, browser):
    def prepare():
        people.machine.address = "Amir Temur Square 1"
        people.machine.save()
        return make_task(people.machine, assignee=people.operator, kind=TaskKind.REFILL,
                         bunker=people.coffee, priority=Priority.HIGH,
                         title="Refill coffee at the square", notes="Key at the kiosk",
                         due_at=datetime.now(UTC) + timedelta(minutes=30))

    task = in_thread(prepare)
    manager = browser.signed_in(people.manager, f"/tasks/?operator={people.operator.pk}")
    manager.wait_for_selector("#board[data-loaded=true]")
    expect(manager.locator("#unread-count")).to_have_text("0")

    phone = browser.new_page(viewport=PHONE)
    phone.goto("/login/")
    phone.fill("#id_username", people.operator.username)
    phone.fill("#id_password", PASSWORD)
    phone.click("#login-form button[type=submit]")
    phone.wait_for_url("**/tasks/")  # operators land on their board
    wait_live(phone)
    phone.wait_for_selector("#board[data-loaded=true]")

    card = phone.locator(f'.task-card[data-task-id="{task.id}"]')
    expect(card).to_be_visible()
    expect(card.locator(".task-address")).to_have_text("Amir Temur Square 1")
    expect(card.locator(".task-bring")).to_have_text("Bring 200 g of Coffee")
    expect(card.locator(".task-notes")).to_have_text("Key at the kiosk")
    navigate = card.locator("a.task-navigate")
    expect(navigate).to_have_attribute(
        "href", "https://www.google.com/maps/search/?api=1&query=41.2995,69.2401")
    assert no_horizontal_scroll(phone)
    screenshot(phone, "operator-day-board")

    card.locator("button.move-done").click()
    phone.click('[data-tab-for="done"]')
    expect(phone.locator(f'[data-cards-for="done"] .task-card[data-task-id="{task.id}"]')
           ).to_be_visible()
    assert no_horizontal_scroll(phone)
    screenshot(phone, "operator-day-done")

    # The manager's board and bell, live.
    expect(manager.locator(f'[data-cards-for="done"] .task-card[data-task-id="{task.id}"]')
           ).to_have_count(1)
    expect(manager.locator(f'[data-cards-for="todo"] .task-card[data-task-id="{task.id}"]')
           ).to_have_count(0)
    toast = manager.locator(".toast")
    expect(toast.locator(".toast-title")).to_have_text("Done: Refill coffee at the square")
    expect(manager.locator("#unread-count")).to_have_text("1")
    screenshot(manager, "operator-day-manager")
