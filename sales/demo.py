"""The sales part of `manage.py seed_demo`: a product catalogue per organization, prices in
UZS, a planogram for every demo machine, and a few days of sales history.

Idempotent like the rest of the seed: products are looked up by SKU and brought up to date;
a machine gets a planogram only when it has none (a manager's later change is theirs), and
a history only with that first planogram, so a second run adds nothing. The history is what
`simulate_fleet` would have sold (`telemetry.simulated_sales`), bulk-stored with the daily
rollups and last sale that vend ingestion keeps.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from machines.models import Bunker, Machine, Organization
from machines.seeding import Tally, ensure
from sales import rollups
from sales.ingest import sales_day
from sales.models import DailySales, Planogram, Product, Vend, VendKey
from sales.services import RecipeSpec, SelectionSpec, create_planogram_version
from telemetry.simulated_sales import SimulatedSales, SimulatedSelection

#: Days of sales before the seed, so the Sales page has something to show.
HISTORY_DAYS = 3
#: A demo machine's mean vends per minute over a day: ~100 a day, a busy street machine.
HISTORY_SALES_PER_MINUTE = 0.07


@dataclass(frozen=True)
class Drink:
    sku: str
    name: str
    price: int  # sums
    unit_cost: int
    recipe: tuple[tuple[str, int], ...]  # (ingredient name, grams per cup)


@dataclass(frozen=True)
class Snack:
    sku: str
    name: str
    category: str
    ean: str  # 12 digits; the check digit is computed
    price: int
    unit_cost: int


DRINKS = (
    Drink("CF-ESP", "Espresso", 10_000, 3_000, (("Coffee beans", 8),)),
    Drink("CF-DBL", "Double espresso", 15_000, 5_000, (("Coffee beans", 16),)),
    Drink("CF-AME", "Americano", 12_000, 3_500, (("Coffee beans", 10),)),
    Drink("CF-CAP", "Cappuccino", 15_000, 5_000, (("Coffee beans", 8), ("Milk powder", 12))),
    Drink("CF-LAT", "Latte", 16_000, 5_500, (("Coffee beans", 8), ("Milk powder", 18))),
    Drink("CF-VLT", "Vanilla latte", 18_000, 6_500,
          (("Coffee beans", 8), ("Milk powder", 15), ("Vanilla topping", 5))),
    Drink("CF-MOC", "Mocha", 18_000, 6_000,
          (("Coffee beans", 8), ("Cocoa", 10), ("Milk powder", 8))),
    Drink("CF-CHO", "Hot chocolate", 14_000, 4_500, (("Cocoa", 25), ("Milk powder", 10))),
    Drink("CF-TEA", "Black tea", 8_000, 1_500, (("Black tea", 2),)),
    Drink("CF-TSG", "Sweet tea", 9_000, 2_000, (("Black tea", 2), ("Sugar", 8))),
)
SNACKS = (
    Snack("SN-SNK", "Snickers 50 g", "snacks", "478000100011", 12_000, 7_000),
    Snack("SN-TWX", "Twix 55 g", "snacks", "478000100012", 12_000, 7_000),
    Snack("SN-BNT", "Bounty 57 g", "snacks", "478000100013", 13_000, 7_500),
    Snack("SN-LAY", "Lay's 80 g", "snacks", "478000100021", 15_000, 9_000),
    Snack("SN-CRK", "Crackers 100 g", "snacks", "478000100022", 8_000, 4_000),
    Snack("DR-COL", "Coca-Cola 0.5 l", "drinks", "478000100031", 10_000, 6_000),
    Snack("DR-FNT", "Fanta 0.5 l", "drinks", "478000100032", 10_000, 6_000),
    Snack("DR-WTR", "Hydrolife water 0.5 l", "drinks", "478000100033", 8_000, 3_000),
    Snack("DR-ICT", "Fuse Tea 0.5 l", "drinks", "478000100034", 11_000, 6_500),
    Snack("DR-ENR", "Flash energy 0.45 l", "drinks", "478000100035", 14_000, 8_000),
)
#: A spiral machine's rows: A-D, six spirals each; each row holds one product family.
SLOT_ROWS = "ABCD"


def ean13(digits: str) -> str:
    """The 13-digit EAN of 12 digits, with its check digit."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits))
    return digits + str((10 - total % 10) % 10)


def catalogue(organization: Organization, *, tally: Tally) -> dict[str, Product]:
    """The organization's products by SKU: every drink and snack, brought up to date."""
    products = {}
    for drink in DRINKS:
        products[drink.sku] = ensure(
            Product, lookup={"organization": organization, "sku": drink.sku},
            values={"name": drink.name, "category": "coffee", "barcode": "",
                    "unit_cost": drink.unit_cost}, tally=tally)
    for snack in SNACKS:
        products[snack.sku] = ensure(
            Product, lookup={"organization": organization, "sku": snack.sku},
            values={"name": snack.name, "category": snack.category,
                    "barcode": ean13(snack.ean), "unit_cost": snack.unit_cost}, tally=tally)
    return products


def coffee_selections(bunkers: list[Bunker], products: dict[str, Product]) -> list[SelectionSpec]:
    """Buttons 1, 2, … for every drink whose ingredients the machine's bunkers all hold."""
    by_name = {}
    for bunker in sorted(bunkers, key=lambda b: b.created_at):
        by_name.setdefault(bunker.ingredient.name, bunker.ingredient_id)
    specs = []
    for drink in DRINKS:
        if all(name in by_name for name, _ in drink.recipe):
            specs.append(SelectionSpec(
                str(len(specs) + 1), products[drink.sku].pk, drink.price,
                recipe=tuple(RecipeSpec(by_name[name], grams) for name, grams in drink.recipe)))
    return specs


def snack_selections(rng: random.Random, products: dict[str, Product]) -> list[SelectionSpec]:
    """Rows A-B snacks, C-D drinks, in spirals of 8-12 items filled to par."""
    snacks = [s for s in SNACKS if s.category == "snacks"]
    drinks = [s for s in SNACKS if s.category == "drinks"]
    specs = []
    for row in SLOT_ROWS:
        family = snacks if row in "AB" else drinks
        for column in range(1, 7):
            item = family[(column - 1 + (row in "BD") * 3) % len(family)]
            capacity = rng.choice((8, 10, 12))
            specs.append(SelectionSpec(f"{row}{column}", products[item.sku].pk, item.price,
                                       capacity=capacity, par_level=capacity - rng.randint(0, 2)))
    return specs


def plant(machines: list[Machine], *, products: dict[str, Product], is_snack, start: datetime,
          rng: random.Random) -> list[Machine]:
    """A planogram in force from `start` for each machine without one; returns those."""
    planted = []
    has_planogram = set(Planogram.objects.filter(machine__in=machines)
                        .values_list("machine_id", flat=True))
    for machine in machines:
        if machine.pk in has_planogram:
            continue
        if is_snack(machine):
            specs = snack_selections(rng, products)
        else:
            specs = coffee_selections(list(machine.bunkers.select_related("ingredient")),
                                      products)
        if specs:
            create_planogram_version(machine=machine, selections=specs, effective_from=start)
            planted.append(machine)
    return planted


def history(machine: Machine, *, start: datetime, end: datetime,
            rng: random.Random) -> list[Vend]:
    """The vends `machine` would have sold from its first planogram between `start` and
    `end` (the simulator's till, spirals refilled every morning), unsaved."""
    planogram = (Planogram.objects.filter(machine=machine).order_by("effective_from")
                 .prefetch_related("selections").first())
    products = {s.code: s.product_id for s in planogram.selections.all()}
    selections = [SimulatedSelection(s.code, s.price, capacity=s.capacity,
                                     par_level=s.par_level, popularity=rng.uniform(0.5, 2.0))
                  for s in planogram.selections.all()]
    zone = ZoneInfo(machine.organization.time_zone)
    till = SimulatedSales(machine_id=str(machine.pk), serial_number=machine.serial_number,
                          selections=selections, rng=rng, time_zone=zone,
                          sales_per_minute=HISTORY_SALES_PER_MINUTE, collect_at=10**15)
    step = timedelta(minutes=15)
    sold, now = [], start
    while now + step <= end:
        now += step
        local = now.astimezone(zone)
        if local.hour == 7 and local.minute < 15:
            for selection in selections:  # the morning route fills the spirals
                selection.restock()
        # Bunkers are not simulated here: the seeded levels are today's, after any refills.
        sold += till.sell(now, step.total_seconds(), {})
    return [Vend(machine=machine, transaction_id=f"seed-{number}", selection=v["selection"],
                 product_id=products[v["selection"]], price=v["price"],
                 payment_method=v["paymentMethod"], provider=v.get("provider", ""),
                 timestamp=datetime.fromisoformat(v["timestamp"]))
            for number, v in enumerate(sold, start=1)]


def store_history(machines: list[Machine], vends: list[Vend]) -> None:
    """Bulk-store the history of machines that had no vends, with the daily rollups vend
    ingestion would have kept (`sales.ingest` adds one batch at a time: thousands of
    queries for a fleet's days) and each machine's last sale."""
    Vend.objects.bulk_create(vends, batch_size=2000)
    VendKey.objects.bulk_create(  # what ingestion would have claimed for them
        [VendKey(machine_id=v.machine_id, transaction_id=v.transaction_id,
                 timestamp=v.timestamp) for v in vends], batch_size=2000)
    zones = {m.pk: m.organization.time_zone for m in machines}
    organizations = {m.pk: m.organization_id for m in machines}
    totals: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    last_sale: dict = {}
    for vend in vends:
        key = (vend.machine_id, vend.product_id, vend.payment_method,
               sales_day(vend.timestamp, zones[vend.machine_id]))
        totals[key][0] += 1
        totals[key][1] += vend.price
        last_sale[vend.machine_id] = max(vend.timestamp, last_sale.get(vend.machine_id,
                                                                       vend.timestamp))
    DailySales.objects.bulk_create([
        DailySales(organization_id=organizations[machine_id], machine_id=machine_id,
                   product_id=product_id, payment_method=method, day=day, vends=count,
                   revenue=revenue)
        for (machine_id, product_id, method, day), (count, revenue) in totals.items()
    ], batch_size=2000)
    # bulk_create sends no signal: the narrower rollups of those days are summed again.
    rollups.rebuild_narrow_rollups(organization_ids=set(organizations.values()),
                                   days={day for *_key, day in totals})
    for machine_id, at in last_sale.items():
        Machine.objects.filter(pk=machine_id).update(last_sale_at=at)


def seed_sales(organization: Organization, machines: list[Machine], *, tally: Tally,
               is_snack, now: datetime, say) -> None:
    """Catalogue, planograms and history of one organization's demo machines."""
    rng = random.Random(f"sales-{organization.slug}")
    products = catalogue(organization, tally=tally)
    start = (now - timedelta(days=HISTORY_DAYS)).replace(second=0, microsecond=0)
    planted = plant(machines, products=products, is_snack=is_snack, start=start, rng=rng)
    say(f"{organization.name}: {len(products)} products, {len(planted)} new planograms")
    vends: list[Vend] = []
    for number, machine in enumerate(planted, start=1):
        vends += history(machine, start=start, end=now,
                         rng=random.Random(f"history-{machine.serial_number}"))
        if number % 20 == 0 or number == len(planted):
            say(f"{organization.name}: sales history {number}/{len(planted)} machines, "
                f"{len(vends)} vends")
    store_history(planted, vends)
