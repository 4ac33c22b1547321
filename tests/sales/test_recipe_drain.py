"""A coffee vend subtracts its recipe from the bunkers' expected levels; the next reading of
a bunker replaces the estimate (Bunker.expected_level_grams back to None)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.sales.conftest import post_vends, vend_body
from tests.telemetry.conftest import reading_body

pytestmark = pytest.mark.django_db


def levels(personas) -> tuple:
    personas.coffee.refresh_from_db()
    personas.milk.refresh_from_db()
    return personas.coffee.expected_level_grams, personas.milk.expected_level_grams


def test_no_vend_means_no_estimate(personas, planogram):
    assert levels(personas) == (None, None)


def test_coffee_vends_drain_their_recipe_from_the_current_level(personas, planogram, device):
    post_vends(device, [vend_body(personas.machine, f"t-{i}") for i in range(3)])
    assert levels(personas) == (800 - 3 * 18, 1500 - 3 * 12)
    post_vends(device, vend_body(personas.machine, "t-9"))
    assert levels(personas) == (800 - 4 * 18, 1500 - 4 * 12)
    assert personas.coffee.current_level_grams == 800  # the reported level is untouched


def test_a_retry_drains_nothing_twice(personas, planogram, device):
    body = [vend_body(personas.machine, f"t-{i}") for i in range(2)]
    post_vends(device, body)
    post_vends(device, body)
    assert levels(personas) == (800 - 36, 1500 - 24)


def test_snack_vends_and_unknown_selections_drain_nothing(personas, planogram, device):
    post_vends(device, [vend_body(personas.machine, "a", selection="A3", price=12000),
                        vend_body(personas.machine, "b", selection="77")])
    assert levels(personas) == (None, None)


def test_the_estimate_never_goes_under_zero(personas, planogram, device):
    personas.coffee.current_level_grams = 20
    personas.coffee.save()
    post_vends(device, [vend_body(personas.machine, f"t-{i}") for i in range(3)])
    assert levels(personas)[0] == 0


def test_a_reading_of_the_bunker_resets_the_estimate(personas, planogram, device):
    post_vends(device, vend_body(personas.machine))
    reading = reading_body(personas.machine, at=datetime.now(UTC) + timedelta(seconds=1),
                           bunkers={personas.coffee: 780})
    assert device.post("/api/v1/telemetry/", reading, format="json").status_code == 201
    assert levels(personas) == (None, 1500 - 12)  # milk was not in the reading
    personas.coffee.refresh_from_db()
    assert personas.coffee.current_level_grams == 780


def test_vends_use_the_recipe_of_their_time(personas, planogram, products, device):
    from sales.services import RecipeSpec, SelectionSpec, create_planogram_version

    change = datetime(2026, 2, 1, tzinfo=UTC)
    create_planogram_version(machine=personas.machine, effective_from=change, selections=[
        SelectionSpec("1", products["cappuccino"].pk, 15000,
                      recipe=(RecipeSpec(personas.coffee.ingredient_id, 10),))])
    post_vends(device, [vend_body(personas.machine, "old", at=change - timedelta(days=1)),
                        vend_body(personas.machine, "new", at=change + timedelta(days=1))])
    assert levels(personas) == (800 - 18 - 10, 1500 - 12)
