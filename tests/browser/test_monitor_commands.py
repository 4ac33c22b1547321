"""The monitor's Commands card in a real headless chromium: a manager sends a reboot and
watches it go queued → delivered → acknowledged live; a refused set-price says why; a
viewer has no Commands card."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from devices.commands import mark_delivered, record_reply
from devices.models import MachineCommand
from tests.browser.conftest import in_thread, screenshot
from tests.live import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.postgres]


@pytest.fixture(scope="module")
def dashboard_server(django_db_setup, django_db_blocker) -> Iterator[LiveServer]:
    """A product server that takes commands (a broker configured; the tests play the
    publisher and the device through the services)."""
    with LiveServer(env={"MQTT_URL": "mqtt://vendhub_server:unused@127.0.0.1:9"}) as server:
        yield server


def test_a_manager_sends_a_reboot_and_follows_it_live(people, browser):
    machine = people.machine
    page = browser.signed_in(people.manager, f"/machines/{machine.id}/")
    card = page.locator("#commands-card")
    expect(card).to_have_attribute("data-loaded", "true")
    expect(page.locator("#commands-empty")).to_be_visible()

    page.click('#commands-card [data-command="reboot"]')
    row = page.locator(".command-row")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-state", "queued")
    expect(row.locator(".command-kind")).to_have_text("Reboot")
    command = in_thread(lambda: MachineCommand.objects.get(machine=machine))

    in_thread(mark_delivered, command.pk)
    expect(row).to_have_attribute("data-state", "delivered")
    in_thread(record_reply, serial=machine.serial_number,
              payload=f'{{"command": "{command.pk}", "ok": false, "error": "door open"}}')
    expect(row).to_have_attribute("data-state", "failed")
    expect(row.locator(".command-error")).to_have_text("door open")
    screenshot(page, "monitor-commands")

    # No planogram: the price is refused, and the card says why.
    page.fill('#command-price input[name="selection"]', "9")
    page.fill('#command-price input[name="price"]', "16000")
    page.click("#command-price button[type=submit]")
    expect(page.locator("#command-status")).to_contain_text("planogram")
    expect(row).to_have_count(1)
    assert browser.page_errors == []


def test_a_viewer_has_no_commands_card(people, browser):
    page = browser.signed_in(people.viewer, f"/machines/{people.machine.id}/")
    expect(page.locator("#machine-name")).to_be_visible()
    expect(page.locator("#commands-card")).to_have_count(0)
    assert browser.page_errors == []
