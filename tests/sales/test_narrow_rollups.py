"""DailyMachineSales and DailyProductSales are DailySales summed over products and over
machines: whatever writes DailySales (vend ingestion, its retries, the demo's seed, a row
saved through the ORM, a machine deleted), the narrower rows stay equal to those sums."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db.models import Sum

from machines.seeding import Tally
from sales.demo import seed_sales
from sales.ingest import ingest_vends
from sales.models import DailyMachineSales, DailyProductSales, DailySales
from sales.services import SelectionSpec, create_planogram_version
from sales.vends import VendIn
from tests.factories import make_machine
from tests.sales.conftest import EPOCH, make_product

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 3, 1, 7, 0, tzinfo=UTC)  # 12:00 in Tashkent (UTC+5)
KEYS = {DailyMachineSales: ("organization_id", "machine_id", "payment_method", "day"),
        DailyProductSales: ("organization_id", "product_id", "payment_method", "day")}


def sums(model, keys) -> dict:
    rows = model.objects.order_by().values(*keys).annotate(v=Sum("vends"), r=Sum("revenue"))
    return {tuple(row[k] for k in keys): (row["v"], row["r"]) for row in rows}


def assert_narrow_rollups_match_daily_sales() -> None:
    for model, keys in KEYS.items():
        stored = {tuple(getattr(row, k) for k in keys): (row.vends, row.revenue)
                  for row in model.objects.all()}
        assert model.objects.count() == len(stored), "one row per key"
        assert stored == sums(DailySales, keys), model.__name__


def vend(number: int, selection: str, *, method: str = "cash", price: int = 15000,
         at: datetime = NOON) -> VendIn:
    return VendIn(transaction_id=f"t-{number}", selection=selection, price=price,
                  payment_method=method, provider="", timestamp=at)


@pytest.fixture
def fleet(personas, products, planogram):
    """acme's machine (planogram "1" cappuccino, "A3" Snickers), a second acme machine
    selling Snickers as "1", and the rival's machine with a product of its own."""
    second = make_machine(personas.acme, name="Station B")
    create_planogram_version(machine=second, effective_from=EPOCH, selections=[
        SelectionSpec("1", products["snickers"].pk, 12000)])
    cola = make_product(personas.rival, "Rival cola")
    create_planogram_version(machine=personas.rival_machine, effective_from=EPOCH,
                             selections=[SelectionSpec("1", cola.pk, 9000)])
    return {"first": personas.machine, "second": second, "rival": personas.rival_machine}


def batches(fleet) -> list:
    """Batches over two days, three methods, two machines sharing a product, a selection
    the planogram does not name, and another organization."""
    late = NOON + timedelta(hours=14)  # 02:00 the next day in Tashkent
    return [
        (fleet["first"], [vend(1, "1"), vend(2, "1", method="card"), vend(3, "A3"),
                          vend(4, "99", price=7000), vend(5, "1", at=late, method="mobile")]),
        (fleet["second"], [vend(6, "1"), vend(7, "1"), vend(8, "55", price=3000),
                           vend(9, "1", at=late, method="card")]),
        (fleet["rival"], [vend(10, "1"), vend(11, "1", method="mobile")]),
    ]


def test_ingested_vends_sum_into_the_narrower_rollups(fleet, personas, products):
    for machine, vends in batches(fleet):
        ingest_vends(machine=machine, vends=vends)
    assert_narrow_rollups_match_daily_sales()
    # Both acme machines sold Snickers cash on March 1st: one product row holds both.
    snickers = DailyProductSales.objects.get(product=products["snickers"],
                                             payment_method="cash", day=date(2026, 3, 1))
    assert (snickers.organization_id, snickers.vends, snickers.revenue) == (
        personas.acme.pk, 3, 45000)  # the prices paid
    unnamed = DailyProductSales.objects.get(product=None, day=date(2026, 3, 1))
    assert (unnamed.vends, unnamed.revenue) == (2, 10000)
    first = DailyMachineSales.objects.get(machine=fleet["first"], payment_method="cash",
                                          day=date(2026, 3, 1))
    assert (first.vends, first.revenue) == (3, 15000 + 15000 + 7000)
    assert not DailyProductSales.objects.filter(organization=personas.rival,
                                                product__organization=personas.acme).exists()


def test_a_replayed_batch_changes_no_narrower_rollup(fleet):
    for machine, vends in batches(fleet):
        ingest_vends(machine=machine, vends=vends)
    before = {model: sums(model, keys) for model, keys in KEYS.items()}
    for machine, vends in batches(fleet):
        result = ingest_vends(machine=machine, vends=vends + vends[:1])
        assert result.accepted == 0
    assert {model: sums(model, keys) for model, keys in KEYS.items()} == before
    assert_narrow_rollups_match_daily_sales()


def test_later_batches_add_to_the_same_rows(fleet):
    ingest_vends(machine=fleet["first"], vends=[vend(1, "1")])
    ingest_vends(machine=fleet["first"], vends=[vend(2, "1"), vend(3, "99", price=1000)])
    ingest_vends(machine=fleet["second"], vends=[vend(4, "99", price=2000)])
    row = DailyMachineSales.objects.get(machine=fleet["first"])
    assert (row.vends, row.revenue) == (3, 31000)
    assert DailyProductSales.objects.get(product=None).vends == 2
    assert_narrow_rollups_match_daily_sales()


def test_rows_saved_through_the_orm_are_summed_too(personas, products):
    second = make_machine(personas.acme, name="Station B")
    day = date(2026, 3, 1)
    for machine, product, vends in [(personas.machine, products["cappuccino"], 2),
                                    (second, products["cappuccino"], 3),
                                    (second, None, 1)]:
        DailySales.objects.create(organization=personas.acme, machine=machine,
                                  product=product, payment_method="cash", day=day,
                                  vends=vends, revenue=vends * 1000)
    row = DailySales.objects.get(machine=second, product=None)
    row.vends, row.revenue = 4, 4000
    row.save()
    assert DailyProductSales.objects.get(product=products["cappuccino"]).vends == 5
    assert DailyMachineSales.objects.get(machine=second).vends == 7
    assert_narrow_rollups_match_daily_sales()


def test_a_deleted_machine_leaves_the_product_rollups(fleet, products):
    for machine, vends in batches(fleet):
        ingest_vends(machine=machine, vends=vends)
    fleet["second"].delete()
    assert not DailyMachineSales.objects.filter(machine_id=fleet["second"].pk).exists()
    snickers = DailyProductSales.objects.get(product=products["snickers"],
                                             payment_method="cash", day=date(2026, 3, 1))
    assert snickers.vends == 1  # the first machine's only
    assert_narrow_rollups_match_daily_sales()


def test_the_demo_seed_fills_the_narrower_rollups(personas):
    machines = [make_machine(personas.acme, name=f"Demo {i}") for i in range(3)]
    seed_sales(personas.acme, machines, tally=Tally(), is_snack=lambda m: m.name == "Demo 2",
               now=datetime(2026, 3, 5, 12, tzinfo=UTC), say=lambda message: None)
    assert DailySales.objects.count() > 0
    assert DailyProductSales.objects.exists() and DailyMachineSales.objects.count() > 3
    assert_narrow_rollups_match_daily_sales()
