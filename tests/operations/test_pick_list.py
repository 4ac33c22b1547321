"""operations.pick_list: from the forecast level at arrival up to par, in whole packs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from operations.pick_list import (
    LOOSE,
    Pack,
    Stock,
    fits,
    level_at,
    load_grams,
    packs_for,
    plan_line,
    plan_lines,
    totals,
)

AT = datetime(2030, 6, 3, 4, 0, tzinfo=UTC)


def bunker(level=300, *, par=2000, rate=50.0, pack=LOOSE, ingredient="coffee") -> Stock:
    return Stock("bunker-1", "", ingredient, None, par, level, AT, rate, pack)


def slot(level=2, *, par=10, rate=0.5, pack=LOOSE, product="cola") -> Stock:
    return Stock(None, "A1", None, product, par, level, AT, rate, pack)


def test_the_level_at_arrival_follows_the_consumption_rate():
    assert level_at(level=1000, rate_per_hour=50, since=AT, at=AT + timedelta(hours=4)) == 800


def test_the_level_never_falls_below_empty():
    assert level_at(level=100, rate_per_hour=50, since=AT, at=AT + timedelta(hours=10)) == 0


def test_an_arrival_before_the_forecast_keeps_the_known_level():
    assert level_at(level=100, rate_per_hour=50, since=AT, at=AT - timedelta(hours=3)) == 100


def test_a_bunker_is_filled_up_to_its_capacity_from_the_level_at_arrival():
    line = plan_line(bunker(300, rate=50), arrival=AT + timedelta(hours=2))
    assert (line.planned_quantity, line.packs) == (1800, 1800)  # 2000 - (300 - 100), loose


def test_quantities_are_rounded_up_to_whole_packs():
    line = plan_line(bunker(300, rate=0, pack=Pack(500, 500)), arrival=AT)
    assert (line.planned_quantity, line.packs, line.weight_grams) == (2000, 4, 2000)
    line = plan_line(bunker(1499, rate=0, pack=Pack(500, 500)), arrival=AT)
    assert (line.planned_quantity, line.packs) == (1000, 2)  # 501 g -> two packs


def test_a_fraction_of_a_gram_needs_a_whole_gram():
    assert packs_for(0.2, 1) == 1
    assert packs_for(0, 500) == 0
    assert packs_for(-5, 500) == 0


def test_an_item_at_par_needs_nothing():
    line = plan_line(bunker(2000, rate=0, pack=Pack(500, 500)), arrival=AT)
    assert (line.planned_quantity, line.packs, line.weight_grams) == (0, 0, 0)


def test_a_slot_is_filled_up_to_its_par_in_crates_weighing_their_pack_weight():
    crate = Pack(quantity=12, weight_grams=6000)  # 500 g a bottle
    line = plan_line(slot(2, par=10, rate=0, pack=crate), arrival=AT)
    assert (line.planned_quantity, line.packs, line.weight_grams) == (12, 1, 6000)


def test_a_product_without_a_pack_size_is_counted_by_the_piece_and_weighs_nothing_known():
    line = plan_line(slot(2, par=10, rate=1.0), arrival=AT + timedelta(hours=2))
    assert (line.planned_quantity, line.packs, line.weight_grams) == (10, 10, 0)


def test_totals_add_quantities_and_packs_per_item_over_the_route():
    lines = plan_lines([bunker(1000, rate=0, pack=Pack(500, 500)),
                        bunker(500, rate=0, pack=Pack(500, 500)),
                        slot(0, par=10, rate=0)], arrival=AT)
    assert totals(lines) == {("ingredient", "coffee"): (2500, 5), ("product", "cola"): (10, 10)}
    assert load_grams(lines) == 2500


def test_the_load_must_fit_the_vehicle():
    lines = plan_lines([bunker(0, par=2000, rate=0)], arrival=AT)
    assert fits(lines, capacity_kg=2)
    assert not fits(lines, capacity_kg=1)
