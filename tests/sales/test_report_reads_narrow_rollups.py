"""A report reads the narrowest rollup that answers it (DailyProductSales by day, product
and payment method; DailyMachineSales by machine and for the top and bottom machines) and
its figures are those DailySales gives, on random sales of two organizations."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sales import reports, rollups
from sales.models import DailySales, PaymentMethod
from tests.factories import make_machine
from tests.sales.conftest import make_product

pytestmark = pytest.mark.django_db

START = date(2026, 1, 1)
DAYS = 40


@pytest.fixture
def random_sales(personas):
    """Two organizations, machines and products of each (some that never sold), random
    rollups over 40 days, stored as the demo seed stores them."""
    rng = random.Random(14)
    rows = []
    for organization, machine in [(personas.acme, personas.machine),
                                  (personas.rival, personas.rival_machine)]:
        machines = [machine] + [make_machine(organization, name=f"{organization.slug} {i}")
                                for i in range(5)]
        products = [None] + [make_product(organization, f"{organization.slug} p{k}",
                                          sku=f"{organization.slug}-{k}") for k in range(6)]
        for machine in machines[:-1]:  # the last machine never sells
            for product in products:
                for method in PaymentMethod.values:
                    for offset in rng.sample(range(DAYS), rng.randint(0, 12)):
                        vends = rng.randint(1, 4)
                        rows.append(DailySales(
                            organization=organization, machine=machine, product=product,
                            payment_method=method, day=START + timedelta(days=offset),
                            vends=vends, revenue=vends * rng.choice([0, 5000, 12000])))
    DailySales.objects.bulk_create(rows)
    rollups.rebuild_narrow_rollups(organization_ids=[personas.acme.pk, personas.rival.pk])
    return rows


SCOPES = [(0, DAYS - 1), (3, 9), (DAYS - 1, DAYS - 1), (DAYS + 5, DAYS + 9)]


@pytest.mark.parametrize("group_by", reports.GROUP_BY)
@pytest.mark.parametrize(("first", "last"), SCOPES)
def test_the_narrow_rollups_give_the_figures_of_daily_sales(personas, random_sales, group_by,
                                                            first, last):
    for organization_ids in [(personas.acme.pk,), (personas.acme.pk, personas.rival.pk)]:
        scope = reports.ReportScope(organization_ids=organization_ids,
                                    start=START + timedelta(days=first),
                                    end=START + timedelta(days=last))
        narrow = reports.sales_report(scope, group_by)
        wide = reports.sales_report(scope, group_by, tables=reports.WIDEST)
        assert narrow == wide
        assert first >= DAYS or narrow.totals["vends"] > 0  # not two empty reports


@pytest.mark.parametrize("group_by", reports.GROUP_BY)
def test_a_report_does_not_read_daily_sales(personas, random_sales, group_by):
    scope = reports.ReportScope(organization_ids=(personas.acme.pk,), start=START,
                                end=START + timedelta(days=DAYS - 1))
    with CaptureQueriesContext(connection) as queries:
        reports.sales_report(scope, group_by)
    tables = " ".join(query["sql"] for query in queries.captured_queries)
    assert "sales_dailysales" not in tables.replace("sales_dailysales_", "")
    assert "sales_dailymachinesales" in tables  # the machines' sums: the top and bottom
    assert ("sales_dailyproductsales" in tables) is (group_by != "machine")
