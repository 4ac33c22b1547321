"""plan_day: which machines, which operators, re-plans that keep what happened."""

from __future__ import annotations

import pytest

from operations.planning import plan_day
from tests.operations.planning_data import (
    DAY,
    NOW,
    make_depot,
    make_driver,
    running_out,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(personas):
    depot = make_depot(personas.acme)
    make_driver(personas.acme, personas.operator, depot=depot)
    machines = [running_out(personas.acme, f"M{i}", offset=(0.01 * i, -0.01 * i))
                for i in range(1, 5)]
    return {"depot": depot, "machines": machines}


def test_machines_running_out_are_planned_on_the_organizations_operator(personas, fleet):
    routes = plan_day(organization=personas.acme, date=DAY, now=NOW)
    assert len(routes) == 1
    route = routes[0]
    assert route.operator == personas.operator
    assert {v.machine for v in route.visits.all()} == set(fleet["machines"])
    assert [v.sequence for v in route.visits.all()] == [1, 2, 3, 4]
    assert all(v.reasons == ["runs_out"] for v in route.visits.all())
    assert route.distance_m > 0 and route.load_grams > 0
