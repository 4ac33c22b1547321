"""Migration sales 0004 sums the DailySales rows already there into the narrower rollups it
creates, and unapplies cleanly."""

from __future__ import annotations

from datetime import date

import pytest

from sales.models import DailyMachineSales, DailyProductSales
from tests.factories import make_machine, make_organization
from tests.migrating import latest, migrate

BEFORE = [("sales", "0003_cash_collection")]
AFTER = [("sales", "0004_narrow_daily_rollups")]


@pytest.mark.django_db(transaction=True)
def test_the_migration_sums_the_existing_daily_sales():
    organization = make_organization("Backfill")
    machines = [make_machine(organization), make_machine(organization)]
    old = migrate(BEFORE)
    product = old.get_model("sales", "Product").objects.create(
        organization_id=organization.pk, name="Latte", sku="LATTE")
    rows = old.get_model("sales", "DailySales").objects
    for machine in machines:
        for product_id, method, vends in [(product.pk, "cash", 2), (product.pk, "card", 1),
                                          (None, "cash", 3)]:
            rows.create(organization_id=organization.pk, machine_id=machine.pk,
                        product_id=product_id, payment_method=method, day=date(2026, 3, 1),
                        vends=vends, revenue=vends * 1000)
    try:
        migrate(AFTER)
        assert sorted(DailyMachineSales.objects.values_list("payment_method", "vends")) == [
            ("card", 1), ("card", 1), ("cash", 5), ("cash", 5)]
        assert sorted(DailyProductSales.objects.values_list("product_id", "payment_method",
                                                            "vends", "revenue"),
                      key=str) == sorted([(product.pk, "cash", 4, 4000),
                                          (product.pk, "card", 2, 2000),
                                          (None, "cash", 6, 6000)], key=str)
    finally:  # every app at its latest again, whatever unapplying 0004 took with it
        migrate(latest())
