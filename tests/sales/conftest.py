"""Fixtures of the sales tests: products, planograms, a device client, captured events."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sales.dex.writer import write_dex
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


FIXTURES = Path(__file__).parent / "fixtures"
#: The ID1 serial of the coffee fixtures.
COFFEE_SERIAL = "CF2206A0113"


@pytest.fixture
def coffee_machine(personas):
    """acme's machine, with the serial of the coffee fixtures."""
    personas.machine.serial_number = COFFEE_SERIAL
    personas.machine.save(update_fields=["serial_number"])
    return personas.machine


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="latin-1")


def coffee_audit(*, read_at: datetime, time_zone: str, sold: dict[str, int] | None = None,
                 price: int = 14000) -> str:
    """The coffee fixture read at `read_at` (EA3, in the machine's local time), with
    `sold[selection]` more paid vends at `price` on top of its counters (PA2 and VA1)."""
    sold = sold or {}
    local = read_at.astimezone(ZoneInfo(time_zone))
    lines = fixture_text("coffee_machine.dex").splitlines()
    data = lines[lines.index("ST*001*0001") + 1:-3]  # without ST, G85, SE, DXE
    out, selection = [], None
    for line in data:
        tag, *elements = line.split("*")
        if tag == "PA1":
            selection = elements[0]
        if tag == "VA1":  # VA101 value, VA102 vends
            count = sum(sold.values())
            elements[0] = str(int(elements[0]) + count * price)
            elements[1] = str(int(elements[1]) + count)
        if tag == "PA2":  # PA201 vends, PA202 value
            count = sold.get(selection, 0)
            elements[0] = str(int(elements[0]) + count)
            elements[1] = str(int(elements[1]) + count * price)
        if tag == "EA3":
            elements[1:3] = [f"{local:%y%m%d}", f"{local:%H%M}"]
        out.append("*".join([tag, *elements]))
    return write_dex(out)


@pytest.fixture
def sales_staff(client, personas):
    """A client signed in to the admin as acme's manager, staff with every sales permission."""
    from django.contrib.auth.models import Permission

    personas.manager.is_staff = True
    personas.manager.save()
    personas.manager.user_permissions.set(
        Permission.objects.filter(content_type__app_label="sales"))
    client.force_login(personas.manager)
    return client
