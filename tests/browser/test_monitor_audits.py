"""The machine monitor's audits card in a real headless chromium: a manager uploads a DEX file
and sees its period; a malformed file shows the parser's line and segment; an operator sees
the audits but no upload form."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import in_thread, screenshot
from tests.sales.conftest import COFFEE_SERIAL, FIXTURES

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.postgres]


@pytest.fixture
def coffee(people):
    """The personas' machine with the serial of the coffee audit fixtures, committed."""
    people.machine.serial_number = COFFEE_SERIAL
    people.machine.save(update_fields=["serial_number"])
    return people.machine


def test_a_manager_uploads_an_audit_and_sees_its_period(people, coffee, browser):
    page = browser.signed_in(people.manager, f"/machines/{coffee.id}/")
    card = page.locator("#audits-card")
    expect(card).to_have_attribute("data-loaded", "true")
    expect(page.locator("#audits-empty")).to_be_visible()

    page.set_input_files("#audit-file", str(FIXTURES / "bad_crc.dex"))
    page.click("#audit-upload button[type=submit]")
    status = page.locator("#audit-upload-status")
    expect(status).to_have_attribute("data-state", "error")
    expect(status).to_contain_text("line 57")
    expect(status).to_contain_text("G85")
    expect(page.locator(".audit-row")).to_have_count(0)

    page.set_input_files("#audit-file", str(FIXTURES / "coffee_machine.dex"))
    page.click("#audit-upload button[type=submit]")
    expect(status).to_have_attribute("data-state", "done")
    expect(page.locator(".audit-row")).to_have_count(1)
    expect(page.locator('.audit-row [data-flag="first_audit"]')).to_have_text("First audit")
    expect(page.locator("#audits-empty")).to_be_hidden()
    screenshot(page, "monitor-audits")
    assert browser.page_errors == []


def test_an_operator_sees_the_audits_but_cannot_upload(people, coffee, browser):
    from sales.audits import import_audit

    in_thread(lambda: import_audit(machine=coffee, source="device",
                                   text=(FIXTURES / "coffee_machine.dex").read_text("latin-1")))
    page = browser.signed_in(people.operator, f"/machines/{coffee.id}/")
    expect(page.locator(".audit-row")).to_have_count(1)
    expect(page.locator("#audit-upload")).to_have_count(0)
    assert browser.page_errors == []
