"""The operator records the cash counted on the collection card of their board (a phone),
sees it against the expected amount, and the card moves to Done."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from machines.models import Organization, Task, TaskKind
from sales.ingest import ingest_vends
from sales.models import CashCollection
from sales.vends import VendIn
from tests.browser.conftest import PHONE, in_thread, screenshot

pytestmark = pytest.mark.browser


def test_the_operator_records_a_collection_on_the_board(people, browser):
    def prepare() -> Task:
        Organization.objects.filter(pk=people.acme.pk).update(cash_collection_threshold=20_000)
        machine = type(people.machine).objects.select_related("organization").get(
            pk=people.machine.pk)
        ingest_vends(machine=machine, vends=[
            VendIn("t-1", "1", 15_000, "cash", "", timezone.now() - timedelta(minutes=9)),
            VendIn("t-2", "1", 12_000, "cash", "", timezone.now() - timedelta(minutes=8))])
        return Task.objects.get(kind=TaskKind.COLLECTION)

    task = in_thread(prepare)
    phone = browser.signed_in(people.operator, "/tasks/", viewport=PHONE)
    phone.wait_for_selector("#board[data-loaded=true]")
    card = phone.locator(f'.task-card[data-task-id="{task.id}"]')
    expect(card.locator(".task-title")).to_have_text(f"Collect cash at {people.machine.name}")

    card.locator("input.task-cash-amount").fill("26000")
    screenshot(phone, "operator-cash-collection-open")
    card.locator(".task-cash button[type=submit]").click()

    phone.click('[data-tab-for="done"]')
    done = phone.locator(f'[data-cards-for="done"] .task-card[data-task-id="{task.id}"]')
    expect(done.locator(".task-notes")).to_have_text(
        "Counted 26000, expected 27000: a difference of -1000.")
    expect(done.locator(".task-cash")).to_have_count(0)
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(phone, "operator-cash-collection")
    collection = in_thread(CashCollection.objects.get)
    assert (collection.amount, collection.expected, collection.task_id) == (
        26_000, 27_000, task.pk)
    assert browser.page_errors == []
