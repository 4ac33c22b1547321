"""Run-out forecasts in a real headless chromium: the monitor says "Coffee empty at ~14:30"
with its interval in the organization's time zone and follows `machine:forecast` live; the
fleet list has a "Runs out" column that sorts the machines that run out first on top."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django.utils import timezone
from playwright.sync_api import expect

from operations.events import emit_machine_forecast
from operations.models import Forecast
from operations.selectors_forecasts import machine_forecast_rows
from tests.browser.conftest import in_thread, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.postgres]

ZONE = "America/New_York"  # not the server's Asia/Tashkent: the page must use the org's


def clock(at) -> str:
    """A regular expression of `at` as the page shows it: in the organization's zone, on the
    English page's 12-hour clock ("01:08 PM"; the browser puts a narrow no-break space before
    PM). A 24-hour "13:08" matched only until noon in New York."""
    local = at.astimezone(ZoneInfo(ZONE))
    return rf"{local:%I:%M}\s{local:%p}"


def containing(*parts: str) -> re.Pattern:
    """Literal text and `clock` expressions, one after the other."""
    return re.compile("".join(parts))


def _forecast(machine, bunker, at, *, level=400):
    now = timezone.now()
    return Forecast.objects.update_or_create(
        bunker=bunker, defaults={
            "machine": machine, "level": level, "rate_per_hour": 40.0, "runs_out_at": at,
            "earliest_at": at - timedelta(minutes=20), "latest_at": at + timedelta(minutes=35),
            "method": "recent", "samples": 12, "computed_at": now})[0]


@pytest.fixture
def forecasts(people):
    people.acme.time_zone = ZONE
    people.acme.save(update_fields=["time_zone"])
    # Within the hour, so that the page shows a time of today whatever the clock says.
    at = (timezone.now() + timedelta(minutes=50)).replace(second=0, microsecond=0)
    _forecast(people.machine, people.coffee, at)
    return at


def test_the_monitor_says_when_the_coffee_runs_out_and_follows_it_live(people, forecasts,
                                                                        browser):
    page = browser.signed_in(people.viewer, f"/machines/{people.machine.pk}/")
    card = page.locator("#forecasts-card")
    expect(card).to_have_attribute("data-loaded", "true")
    coffee = card.locator(f'.forecast[data-key="{people.coffee.pk}"]')
    expect(coffee).to_contain_text(containing("Coffee empty at ~", clock(forecasts)))
    # The interval, in the page's language's clock ("05:19 AM" in English).
    expect(coffee.locator(".forecast-range")).to_have_text(containing(
        r"\(", clock(forecasts - timedelta(minutes=20)), "–",
        clock(forecasts + timedelta(minutes=35)), r"\)"))
    expect(card.locator(f'.forecast[data-key="{people.milk.pk}"]')).to_have_count(0)
    # The viewer's pages are in their organization's time zone already: the footer says so,
    # the card needs no note of its own.
    expect(page.locator("#time-zone-note")).to_have_text(f"Times in {ZONE}")
    expect(card.locator(".forecast-zone")).to_have_count(0)

    sooner = forecasts - timedelta(minutes=30)

    def refreshed():
        with transaction.atomic():
            _forecast(people.machine, people.coffee, sooner, level=100)
            emit_machine_forecast(people.machine, machine_forecast_rows(people.machine),
                                  computed_at=timezone.now(), slot_names={})

    in_thread(refreshed)
    expect(coffee).to_contain_text(containing("Coffee empty at ~", clock(sooner)))
    screenshot(page, "monitor-forecasts")
    assert browser.page_errors == []


def test_the_fleet_list_sorts_what_runs_out_first_on_top(people, fleet, forecasts, browser):
    later = fleet[0]

    def more():
        from tests.factories import make_bunker

        _forecast(later, make_bunker(later, "Tea"), forecasts + timedelta(hours=5))

    in_thread(more)
    page = browser.signed_in(people.manager, "/fleet/")
    expect(page.locator("#fleet")).to_have_attribute("data-loaded", "true")
    page.click('button[data-sort="runs_out_at"]')
    expect(page.locator("#fleet")).to_have_attribute("data-ordering", "runs_out_at")
    names = page.locator(".fleet-row .fleet-name")
    expect(names.nth(0)).to_have_text(people.machine.name)
    expect(names.nth(1)).to_have_text(later.name)
    expect(page.locator(".fleet-row").first.locator(".cell-runs-out")).not_to_have_text("—")
    assert browser.page_errors == []
