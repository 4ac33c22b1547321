"""Fixtures of the sales tests: products, planograms, a device client, captured events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sales.models import Product
from sales.services import RecipeSpec, SelectionSpec, create_planogram_version
from tests.telemetry.conftest import (  # noqa: F401  (fixtures shared with telemetry)
    device,
    device_client,
    device_key,
    iso,
    sent,
)

#: Before any vend of the tests: the planograms below are in force from here on.
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def make_product(organization, name: str = "Cappuccino", sku: str | None = None,
                 **fields) -> Product:
    return Product.objects.create(organization=organization, name=name,
                                  sku=sku or name.upper()[:12], **fields)


@pytest.fixture
def products(personas) -> dict[str, Product]:
    return {
        "cappuccino": make_product(personas.acme, "Cappuccino", unit_cost=4000),
        "snickers": make_product(personas.acme, "Snickers", category="snacks", unit_cost=6000),
    }


@pytest.fixture
def planogram(personas, products):
    """acme's machine: "1" a cappuccino (18 g coffee, 12 g milk powder) at 15 000 sum,
    "A3" a Snickers at 12 000 sum in a spiral of 10."""
    return create_planogram_version(
        machine=personas.machine, effective_from=EPOCH, selections=[
            SelectionSpec("1", products["cappuccino"].pk, 15000, recipe=(
                RecipeSpec(personas.coffee.ingredient_id, 18),
                RecipeSpec(personas.milk.ingredient_id, 12))),
            SelectionSpec("A3", products["snickers"].pk, 12000, capacity=10, par_level=8),
        ])


def vend_body(machine, transaction_id="t-1", *, selection="1", price=15000, method="cash",
              at: datetime | None = None, **extra) -> dict:
    """A vend as a device posts it (default: a cappuccino paid cash, now)."""
    body = {"machineId": str(machine.pk), "transactionId": transaction_id,
            "selection": selection, "price": price, "paymentMethod": method,
            "timestamp": iso(at or datetime.now(UTC))}
    body.update(extra)
    return body


def post_vends(client, body):
    return client.post("/api/v1/sales/", body, format="json")
