"""The sales page in headless chromium: a manager sees the last 30 days' revenue as a uPlot
bar chart and a table from the daily rollups, switches the grouping, downloads the CSV of
the same report, and sees today's figures move when a machine posts a vend."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sales.ingest import sales_day
from sales.models import DailySales, Product
from tests.browser.conftest import PHONE, screenshot
from tests.factories import make_machine

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.postgres]

DAYS = 30


@pytest.fixture
def rollups(people):
    """30 days of acme sales at its machine (day i: i + 1 vends of 10,000 sum), a second
    machine that sold once, an idle one, and a rival machine that sold a lot."""
    today = sales_day(datetime.now(UTC), people.acme.time_zone)
    latte = Product.objects.create(organization=people.acme, name="Latte", sku="LATTE")
    people.machine.name = "Amir Temur Square"
    people.machine.save()
    second = make_machine(people.acme, name="Chilonzor Cafe")
    make_machine(people.acme, name="Idle Corner")
    for i in range(DAYS):
        DailySales.objects.create(organization=people.acme, machine=people.machine,
                                  product=latte, payment_method="cash",
                                  day=today - timedelta(days=DAYS - 1 - i),
                                  vends=i + 1, revenue=10000 * (i + 1))
    DailySales.objects.create(organization=people.acme, machine=second, product=latte,
                              payment_method="card", day=today, vends=1, revenue=7000)
    rival = Product.objects.create(organization=people.rival, name="Rival Secret Cola",
                                   sku="COLA")
    DailySales.objects.create(organization=people.rival, machine=people.rival_machine,
                              product=rival, payment_method="cash", day=today, vends=99,
                              revenue=990000)
    revenue = sum(10000 * (i + 1) for i in range(DAYS)) + 7000
    return {"today": today, "revenue": revenue}


def wait_loaded(page, group: str = "day") -> None:
    page.locator(f"#sales[data-loaded=true][data-group-by={group}]").wait_for()


def test_a_manager_sees_the_chart_the_table_and_the_csv(people, rollups, browser):
    page = browser.signed_in(people.manager, "/sales/")
    wait_loaded(page)
    assert page.locator("#sales").get_attribute("data-revenue") == str(rollups["revenue"])
    assert page.locator("#sales-revenue").inner_text() == f"{rollups['revenue']:,}"
    chart = page.locator("#sales-chart")
    assert chart.get_attribute("data-points") == str(DAYS)
    assert chart.locator("canvas").count() == 1  # uPlot drew it
    assert page.locator("#sales-rows tr").count() == DAYS
    assert page.locator("#sales-rows tr").last.locator("td").nth(1).inner_text() == "307,000"
    assert page.locator("#sales-top li").first.inner_text().startswith("Amir Temur Square")
    assert page.locator("#sales-bottom li").first.inner_text().startswith("Idle Corner")
    assert "Rival" not in page.content()
    screenshot(page, "sales-page-by-day")

    page.click("[data-group=machine]")
    wait_loaded(page, "machine")
    names = page.locator("#sales-rows tr td:first-child").all_inner_texts()
    assert names == ["Amir Temur Square", "Chilonzor Cafe", "Idle Corner"]
    assert page.locator("#sales-chart").get_attribute("data-points") == "3"

    href = page.locator("#sales-csv").get_attribute("href")
    assert "format=csv" in href and "groupBy=machine" in href
    response = page.request.get(href)
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text())))
    assert [row[1] for row in rows[1:]] == names

    page.click("[data-days='7']")
    page.wait_for_function("() => document.querySelector('#sales-chart').dataset.points === '3'"
                           " && document.querySelectorAll('#sales-rows tr').length === 3")
    page.click("[data-group=day]")
    wait_loaded(page)
    assert page.locator("#sales-rows tr").count() == 7


def test_a_vend_moves_todays_figures_live(people, rollups, device_key, browser):
    page = browser.signed_in(people.manager, "/sales/")
    wait_loaded(page)
    response = httpx.post(
        f"{browser.server.url}/api/v1/sales/", timeout=10,
        headers={"Authorization": f"Device {device_key}"},
        json={"machineId": str(people.machine.pk), "transactionId": "live-1", "selection": "9",
              "price": 12000, "paymentMethod": "mobile",
              "timestamp": datetime.now(UTC).isoformat()})
    assert response.status_code == 201, response.text
    page.locator(f"#sales[data-revenue='{rollups['revenue'] + 12000}']").wait_for()


def test_the_page_fits_a_phone(people, rollups, browser):
    page = browser.signed_in(people.manager, "/sales/", viewport=PHONE)
    wait_loaded(page)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "sales-page-phone", full_page=True)
