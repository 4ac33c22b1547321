"""DailySales: vends and revenue per machine, product, payment method and local day of the
organization, kept by ingestion with F() increments; reports never scan raw vends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sales.models import DailySales
from sales.selectors import revenue_on
from tests.sales.conftest import post_vends, vend_body

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 3, 1, 7, 0, tzinfo=UTC)  # 12:00 in Tashkent (UTC+5)


def rollup(**lookup) -> tuple[int, int]:
    row = DailySales.objects.get(**lookup)
    return row.vends, row.revenue


def test_vends_add_up_per_product_method_and_day(personas, planogram, products, device):
    post_vends(device, [
        vend_body(personas.machine, "1", at=NOON),
        vend_body(personas.machine, "2", at=NOON),
        vend_body(personas.machine, "3", at=NOON, method="card"),
        vend_body(personas.machine, "4", at=NOON, selection="A3", price=12000),
    ])
    post_vends(device, vend_body(personas.machine, "5", at=NOON, price=14000))
    day = NOON.date()
    assert rollup(product=products["cappuccino"], payment_method="cash", day=day) == (3, 44000)
    assert rollup(product=products["cappuccino"], payment_method="card", day=day) == (1, 15000)
    assert rollup(product=products["snickers"], payment_method="cash", day=day) == (1, 12000)
    assert DailySales.objects.filter(organization=personas.acme).count() == 3
    assert revenue_on(organization_id=personas.acme.pk, day=day) == (71000, 5)


def test_retries_add_nothing(personas, planogram, device):
    body = [vend_body(personas.machine, str(i), at=NOON) for i in range(3)]
    post_vends(device, body)
    post_vends(device, body)
    assert rollup(payment_method="cash") == (3, 45000)


def test_the_day_is_the_organizations_local_day(personas, planogram, device):
    late = datetime(2026, 3, 1, 20, 30, tzinfo=UTC)  # 01:30 on March 2nd in Tashkent
    post_vends(device, vend_body(personas.machine, "late", at=late))
    assert DailySales.objects.get().day.isoformat() == "2026-03-02"
    personas.acme.time_zone = "UTC"
    personas.acme.save()
    post_vends(device, vend_body(personas.machine, "late-utc", at=late))
    assert sorted(r.day.isoformat() for r in DailySales.objects.all()) == [
        "2026-03-01", "2026-03-02"]


def test_unknown_selections_roll_up_without_a_product(personas, device):
    post_vends(device, [vend_body(personas.machine, "a", selection="77", at=NOON),
                        vend_body(personas.machine, "b", selection="78", at=NOON)])
    assert rollup(product=None) == (2, 30000)
