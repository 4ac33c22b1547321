"""The daily rollups' changelists stay cheap at millions of rows: no query lists the years
or the organizations from the rows, the page follows the (organization, day) index, a
search finds machines and products before their rows, and the DailySales figures are read
from DailyMachineSales whenever its rows answer the same filters, with the same sums."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from sales.admin_reports import figures_rows
from sales.models import DailyMachineSales, DailySales
from sales.reports import figures_of
from tests.factories import make_machine, make_user
from tests.sales.conftest import make_product

pytestmark = pytest.mark.django_db

URLS = {name: reverse(f"admin:sales_{name}_changelist")
        for name in ("dailysales", "dailymachinesales", "dailyproductsales")}


@pytest.fixture
def rows(personas, products):
    second = make_machine(personas.acme, name="Station B", serial_number="SN-B-0042")
    for machine, product, day, method, vends in [
            (personas.machine, products["cappuccino"], date(2026, 3, 1), "cash", 3),
            (personas.machine, products["snickers"], date(2026, 3, 1), "card", 1),
            (personas.machine, None, date(2026, 3, 2), "cash", 2),
            (second, products["snickers"], date(2026, 4, 1), "mobile", 2),
            (personas.rival_machine, make_product(personas.rival, "Rival cola"),
             date(2026, 3, 1), "cash", 100)]:
        DailySales.objects.create(organization=machine.organization, machine=machine,
                                  product=product, payment_method=method, day=day,
                                  vends=vends, revenue=vends * 10000)
    return second


@pytest.mark.parametrize("name", URLS)
def test_no_query_lists_years_or_organizations_from_the_rows(sales_staff, rows, name):
    with CaptureQueriesContext(connection) as queries:
        response = sales_staff.get(URLS[name])
    assert response.status_code == 200
    sql = " ".join(query["sql"] for query in queries.captured_queries).upper()
    assert "DATE_TRUNC" not in sql and "DISTINCT" not in sql
    assert response.context["cl"].date_hierarchy is None
    assert "Rival" not in response.content.decode()


def test_the_newest_days_come_first_in_the_index_order(sales_staff, personas, rows):
    shown = sales_staff.get(URLS["dailysales"]).context["cl"].result_list
    assert [row.day for row in shown] == sorted((row.day for row in shown), reverse=True)
    assert {row.organization_id for row in shown} == {personas.acme.pk}


@pytest.mark.parametrize("query", [
    {}, {"payment_method__exact": "cash"}, {"day__gte": "2026-03-01", "day__lt": "2026-04-01"},
    {"day__year": "2026", "day__month": "4"}, {"organization__id__exact": "{acme}"},
    {"q": "0042"}, {"q": "snickers"}, {"q": "cola"}, {"q": "0042 nothing-matches"},
])
def test_the_figures_are_the_sums_of_the_listed_rows(sales_staff, personas, rows, query):
    query = {key: value.format(acme=personas.acme.pk) for key, value in query.items()}
    response = sales_staff.get(URLS["dailysales"], query)
    assert response.status_code == 200
    changelist = response.context["cl"]
    assert response.context["sales_figures"] == figures_of(changelist.queryset)
    assert response.context["sales_figures"]["vends"] < 100  # never the rival's rows
    read = figures_rows(response.wsgi_request, changelist).model
    assert read is (DailySales if "q" in query else DailyMachineSales)


def test_a_search_matches_every_word_against_machines_and_products(sales_staff, rows):
    found = sales_staff.get(URLS["dailysales"], {"q": "0042 snick"}).context["cl"]
    assert [(row.machine_id, row.product.name) for row in found.result_list] == [
        (rows.pk, "Snickers")]
    assert not sales_staff.get(URLS["dailysales"], {"q": "rival"}).context["cl"].result_list


def test_a_superuser_filters_by_any_organization(client, personas, rows):
    client.force_login(make_user("root", is_superuser=True, is_staff=True))
    response = client.get(URLS["dailysales"], {"organization__id__exact": personas.rival.pk})
    assert response.context["sales_figures"]["vends"] == 100
    assert "Rival" in response.content.decode()
