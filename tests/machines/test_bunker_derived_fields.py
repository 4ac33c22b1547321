"""Bunker.percentage and Bunker.low_level_alert, derived from level, capacity and threshold."""

import pytest

from tests.factories import make_bunker, make_machine, make_organization


@pytest.fixture
def machine(db):
    return make_machine(make_organization("Bunker Test"))


def test_percentage_is_level_over_capacity_rounded_to_one_decimal(machine):
    bunker = make_bunker(machine, capacity=3000, level=1000)
    assert bunker.percentage == 33.3


def test_percentage_of_an_empty_bunker_is_zero(machine):
    assert make_bunker(machine, capacity=1000, level=0).percentage == 0.0


def test_percentage_of_a_full_bunker_is_one_hundred(machine):
    assert make_bunker(machine, capacity=1000, level=1000).percentage == 100.0


def test_level_under_the_threshold_raises_the_low_level_alert(machine):
    assert make_bunker(machine, capacity=1000, level=199, threshold=20).low_level_alert is True


def test_level_exactly_at_the_threshold_is_not_low(machine):
    assert make_bunker(machine, capacity=1000, level=200, threshold=20).low_level_alert is False


def test_threshold_is_per_bunker(machine):
    bunker = make_bunker(machine, capacity=1000, level=250, threshold=30)
    assert bunker.low_level_alert is True
    bunker.low_level_threshold_percent = 20
    assert bunker.low_level_alert is False
