"""manage.py plan_routes: plans, re-plans and says what it left out."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from operations.models import Route, Visit, VisitStatus
from tests.operations.planning_data import DAY, make_depot, make_driver, running_out

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(personas):
    make_driver(personas.acme, personas.operator, depot=make_depot(personas.acme))
    lost = running_out(personas.acme, "Nowhere")
    lost.latitude = lost.longitude = None
    lost.save()
    return [running_out(personas.acme, f"M{i}", offset=(0.01 * i, 0)) for i in range(3)]


def run(*args) -> str:
    out = StringIO()
    call_command("plan_routes", *args, stdout=out)
    return out.getvalue()


def test_the_command_plans_the_day_and_summarizes(personas, fleet):
    output = run("--date", DAY.isoformat(), "--organization", personas.acme.slug)
    assert "Acme: planning" in output
    assert "1 routes, 3 stops" in output
    assert "no coordinates, cannot be routed: Nowhere" in output
    assert Route.objects.get(organization=personas.acme).visits.count() == 3
    assert not Route.objects.filter(organization=personas.rival).exists()


def test_replan_reorders_existing_routes_keeping_done_visits(personas, fleet):
    run("--date", DAY.isoformat(), "--organization", str(personas.acme.pk))
    route = Route.objects.get()
    done = route.visits.order_by("sequence").last()
    Visit.objects.filter(pk=done.pk).update(status=VisitStatus.DONE)
    output = run("--date", DAY.isoformat(), "--organization", str(personas.acme.pk),
                 "--replan")
    assert "(version 2)" in output
    assert route.visits.order_by("sequence").first().pk == done.pk


def test_every_organization_is_planned_without_organization(personas, fleet):
    output = run("--date", DAY.isoformat())
    assert "Acme: planning" in output and "Rival: planning" in output


@pytest.mark.parametrize("args", [("--date", "tomorrow"), ("--date", "2001-01-01"),
                                  ("--organization", "nobody")])
def test_bad_arguments_are_command_errors(personas, args):
    with pytest.raises(CommandError):
        run(*args)
