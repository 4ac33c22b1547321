"""Field operations of the demo (`manage.py seed_demo`): a depot in Tashkent, a vehicle and a
shift for each operator, and the packs the warehouse issues, so that `manage.py plan_routes`
plans the demo fleet's day. Idempotent like the rest of the seed (`machines.seeding.ensure`).
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal

from machines.models import Ingredient, Organization
from machines.seeding import Tally, ensure
from operations.models import Depot, OperatorProfile, PackSize
from sales.models import Product

#: Chilonzor, Tashkent: the demo fleet's machines are spread around the city centre.
DEPOT = {"name": "Chilonzor warehouse", "address": "Bunyodkor avenue 7, Tashkent",
         "latitude": Decimal("41.275000"), "longitude": Decimal("69.204000"),
         "opens_at": time(7, 0), "closes_at": time(20, 0)}
#: Grams per pack the warehouse issues, by ingredient name (others: 1 kg).
INGREDIENT_PACK_GRAMS = {"Coffee beans": 1000, "Milk powder": 500, "Sugar": 1000,
                         "Cocoa": 500, "Black tea": 250, "Vanilla topping": 250}
#: Snacks and bottles come in boxes of 12 units; their weight counts against the van.
PRODUCT_PACK = {"snacks": (12, 900), "drinks": (12, 6600)}


def seed_operations(organization: Organization, *, operators: list, tally: Tally) -> Depot:
    depot = ensure(Depot, lookup={"organization": organization, "name": DEPOT["name"]},
                   values={key: value for key, value in DEPOT.items() if key != "name"},
                   tally=tally)
    for operator in operators:
        ensure(OperatorProfile, lookup={"organization": organization, "user": operator},
               values={"vehicle_capacity_kg": 400, "shift_start": time(8, 0),
                       "shift_end": time(17, 0), "start_depot": depot, "active": True},
               tally=tally)
    for ingredient in Ingredient.objects.filter(organization=organization):
        ensure(PackSize, lookup={"organization": organization, "ingredient": ingredient},
               values={"quantity": INGREDIENT_PACK_GRAMS.get(ingredient.name, 1000),
                       "weight_grams": 0}, tally=tally)
    for product in Product.objects.filter(organization=organization,
                                          category__in=PRODUCT_PACK):
        quantity, weight = PRODUCT_PACK[product.category]
        ensure(PackSize, lookup={"organization": organization, "product": product},
               values={"quantity": quantity, "weight_grams": weight}, tally=tally)
    return depot
