"""plan_day: only the organization's machines and operators; re-plans keep what happened
(done and checked-in visits) and what a manager placed (pinned visits); machines that
cannot be routed are reported."""

from __future__ import annotations

from datetime import timedelta

import pytest

from machines.models import Membership, Role
from operations.events import ROUTE_UPDATED
from operations.models import PackSize, Route, Visit, VisitStatus
from operations.planning import (
    PlanningError,
    PlanningPermissionDenied,
    move_visit,
    plan_day,
    plan_organization_day,
    replan_route,
)
from realtime.rooms import tasks_room
from tests.factories import make_machine
from tests.operations.planning_data import (
    DAY,
    NOW,
    make_depot,
    make_driver,
    make_operator,
    running_out,
)
from tests.telemetry.conftest import sent  # noqa: F401, F811  (records the published events)

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(personas):
    depot = make_depot(personas.acme)
    make_driver(personas.acme, personas.operator, depot=depot)
    second = make_operator(personas.acme, "acme-operator-2")
    make_driver(personas.acme, second, depot=depot)
    machines = [running_out(personas.acme, f"M{i}", offset=(0.01 * i, -0.01 * i))
                for i in range(1, 7)]
    return {"depot": depot, "machines": machines, "second": second}


def visits_of(routes):
    return {v.machine: v for route in routes for v in route.visits.all()}


def test_machines_running_out_are_planned_with_their_pick_lists(personas, fleet):
    PackSize.objects.create(organization=personas.acme,
                            ingredient=fleet["machines"][0].bunkers.get().ingredient,
                            quantity=500)
    routes = plan_day(organization=personas.acme, date=DAY, now=NOW)
    visits = visits_of(routes)
    assert set(visits) == set(fleet["machines"])
    for route in routes:
        assert [v.sequence for v in route.visits.all()] == list(
            range(1, len(route.visits.all()) + 1))
        assert route.distance_m > 0 and route.planned_at == NOW
        assert route.load_grams == sum(line.planned_quantity for v in route.visits.all()
                                       for line in v.lines.all())
    visit = visits[fleet["machines"][0]]
    assert visit.reasons == ["runs_out"]
    (line,) = visit.lines.all()
    assert line.packs > 0 and line.planned_quantity == line.packs * 500
    assert visit.planned_departure - visit.planned_arrival == timedelta(minutes=15)


def test_only_the_organizations_machines_and_operators_are_planned(personas, fleet):
    rival_depot = make_depot(personas.rival, name="Rival depot")
    rival_operator = make_operator(personas.rival, "rival-operator")
    make_driver(personas.rival, rival_operator, depot=rival_depot)
    rival_machine = running_out(personas.rival, "Rival M")
    routes = plan_day(organization=personas.acme, date=DAY, now=NOW)
    assert {route.operator for route in routes} <= {personas.operator, fleet["second"]}
    assert rival_machine not in visits_of(routes)
    assert {route.organization_id for route in routes} == {personas.acme.pk}
    assert not Route.objects.filter(organization=personas.rival).exists()


def test_an_operator_of_two_organizations_gets_a_separate_route_in_each(personas, fleet):
    Membership.objects.create(user=personas.operator, organization=personas.rival,
                              role=Role.OPERATOR)
    make_driver(personas.rival, personas.operator,
                depot=make_depot(personas.rival, name="Rival depot"))
    rival_machine = running_out(personas.rival, "Rival M")
    acme = plan_day(organization=personas.acme, date=DAY, now=NOW)
    rival = plan_day(organization=personas.rival, date=DAY, now=NOW)
    (rival_route,) = rival
    assert rival_route.operator == personas.operator
    assert set(visits_of(rival)) == {rival_machine}
    mine = [route for route in acme if route.operator == personas.operator]
    assert all(route.organization_id == personas.acme.pk for route in mine)
    assert rival_machine not in visits_of(acme)


def test_operators_without_an_active_profile_get_no_route(personas, fleet):
    fleet["second"].operator_profiles.update(active=False)
    routes = plan_day(organization=personas.acme, date=DAY, now=NOW)
    assert {route.operator for route in routes} == {personas.operator}


def test_machines_that_can_wait_are_not_planned(personas, fleet):
    later = running_out(personas.acme, "Later", runs_out_at=NOW + timedelta(days=5))
    assert later not in visits_of(plan_day(organization=personas.acme, date=DAY, now=NOW))


def test_machines_without_coordinates_are_reported_not_routed(personas, fleet):
    lost = running_out(personas.acme, "Nowhere")
    lost.latitude = lost.longitude = None
    lost.save()
    plan = plan_organization_day(organization=personas.acme, date=DAY, now=NOW)
    assert plan.unroutable == [lost]
    assert lost not in visits_of(plan.routes)


def test_without_a_depot_every_machine_is_unassigned_with_why(personas):
    make_driver(personas.acme, personas.operator)
    machine = running_out(personas.acme, "M")
    plan = plan_organization_day(organization=personas.acme, date=DAY, now=NOW)
    assert plan.routes == []
    assert [(u.machine, u.why) for u in plan.unassigned] == [(machine, "no_depot")]


def test_machines_that_do_not_fit_the_vans_are_unassigned_for_capacity(personas):
    make_driver(personas.acme, personas.operator, depot=make_depot(personas.acme),
                capacity_kg=3)
    machines = [running_out(personas.acme, f"M{i}", offset=(0.01 * i, 0), level=0,
                            capacity=2000) for i in range(3)]  # 2 kg each
    plan = plan_organization_day(organization=personas.acme, date=DAY, now=NOW)
    (route,) = plan.routes
    assert len(route.visits.all()) == 1 and route.load_grams <= 3000
    assert sorted(u.why for u in plan.unassigned) == ["capacity", "capacity"]
    assert {u.machine for u in plan.unassigned} | set(visits_of(plan.routes)) == set(machines)


def test_replanning_keeps_done_and_checked_in_visits_and_pinned_ones(personas, fleet):
    routes = plan_day(organization=personas.acme, date=DAY, now=NOW)
    first = next(route for route in routes if len(route.visits.all()) >= 3)
    done, checked_in, pinned = list(first.visits.all())[:3]
    Visit.objects.filter(pk=done.pk).update(status=VisitStatus.DONE)
    Visit.objects.filter(pk=checked_in.pk).update(status=VisitStatus.CHECKED_IN)
    Visit.objects.filter(pk=pinned.pk).update(pinned=True)
    version = first.version

    again = {route.pk: route for route in plan_day(organization=personas.acme, date=DAY,
                                                   now=NOW)}
    kept = list(again[first.pk].visits.all())[:2]
    assert [(v.pk, v.sequence, v.status) for v in kept] == [
        (done.pk, 1, VisitStatus.DONE), (checked_in.pk, 2, VisitStatus.CHECKED_IN)]
    assert pinned.pk in {v.pk for v in again[first.pk].visits.all()}
    assert again[first.pk].version > version
    assert set(visits_of(again.values())) == set(fleet["machines"])


def test_a_machine_no_longer_needed_leaves_the_replanned_route(personas, fleet):
    plan_day(organization=personas.acme, date=DAY, now=NOW)
    refilled = fleet["machines"][0]
    refilled.forecasts.update(runs_out_at=NOW + timedelta(days=9),
                              earliest_at=NOW + timedelta(days=9))
    routes = plan_day(organization=personas.acme, date=DAY, now=NOW)
    assert refilled not in visits_of(routes)


def test_replan_route_reorders_from_the_kept_visits_and_emits_the_route(
        personas, fleet, sent):  # noqa: F811
    routes = plan_day(organization=personas.acme, date=DAY, now=NOW)
    route = max(routes, key=lambda r: len(r.visits.all()))
    done = route.visits.all()[0]
    Visit.objects.filter(pk=done.pk).update(status=VisitStatus.DONE)
    with sent.capture():
        replanned = replan_route(route, now=NOW)
    assert replanned.version == route.version + 1
    assert replanned.visits.all()[0].pk == done.pk
    assert {v.pk for v in replanned.visits.all()} == {v.pk for v in route.visits.all()}
    (payload,) = sent.of(ROUTE_UPDATED, tasks_room(route.operator_id, personas.acme.pk))
    assert payload["version"] == replanned.version


def test_a_manager_moves_a_visit_to_another_operator_pinned_there(personas, fleet):
    routes = plan_day(organization=personas.acme, date=DAY, now=NOW)
    source = next(route for route in routes if route.visits.all())
    other = ({personas.operator, fleet["second"]} - {source.operator}).pop()
    visit = source.visits.all()[0]
    moved_from, moved_to = move_visit(visit, operator=other, actor=personas.manager, now=NOW)
    assert moved_to.operator == other and moved_from.pk == source.pk
    (moved,) = [v for v in moved_to.visits.all() if v.pk == visit.pk]
    assert moved.pinned and "manual" in moved.reasons and moved.planned_arrival
    # A later re-plan of the day keeps it on that route.
    again = plan_day(organization=personas.acme, date=DAY, now=NOW)
    assert visits_of(again)[visit.machine].route_id == moved_to.pk


def test_a_visit_moved_to_another_day_creates_that_days_route(personas, fleet):
    route = plan_day(organization=personas.acme, date=DAY, now=NOW)[0]
    visit = route.visits.all()[0]
    _source, target = move_visit(visit, date=DAY + timedelta(days=1), actor=personas.manager,
                                 now=NOW)
    assert target.date == DAY + timedelta(days=1) and target.operator_id == route.operator_id
    assert [v.pk for v in target.visits.all()] == [visit.pk]


def test_only_a_manager_may_move_and_never_a_done_visit(personas, fleet):
    route = plan_day(organization=personas.acme, date=DAY, now=NOW)[0]
    visit = route.visits.all()[0]
    with pytest.raises(PlanningPermissionDenied):
        move_visit(visit, operator=fleet["second"], actor=personas.operator, now=NOW)
    with pytest.raises(PlanningPermissionDenied):
        move_visit(visit, operator=fleet["second"], actor=personas.stranger, now=NOW)
    with pytest.raises(PlanningError) as refused:
        move_visit(visit, operator=personas.viewer, actor=personas.manager, now=NOW)
    assert "operatorId" in refused.value.errors
    with pytest.raises(PlanningError) as refused:
        move_visit(visit, date=DAY - timedelta(days=3), actor=personas.manager, now=NOW)
    assert "date" in refused.value.errors
    Visit.objects.filter(pk=visit.pk).update(status=VisitStatus.DONE)
    visit.refresh_from_db()
    with pytest.raises(PlanningError) as refused:
        move_visit(visit, operator=fleet["second"], actor=personas.manager, now=NOW)
    assert "status" in refused.value.errors


def test_a_machine_with_an_open_critical_error_is_planned(personas, fleet):
    from tests.factories import make_machine_error

    broken = make_machine(personas.acme, name="Broken")
    make_machine_error(broken, severity="critical")
    warned = make_machine(personas.acme, name="Warned")
    make_machine_error(warned, severity="warning")
    visits = visits_of(plan_day(organization=personas.acme, date=DAY, now=NOW))
    assert visits[broken].reasons == ["critical_error"]
    assert warned not in visits
