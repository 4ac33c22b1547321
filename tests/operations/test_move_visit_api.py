"""POST /api/v1/visits/{id}/move/: a manager moves a stop to another operator or another
day; both routes come back re-optimized and go out as route:updated. Only managers of the
visit's organization may, only to an operator with an active profile there, never a visit
done or under way, never into the past."""

from __future__ import annotations

from datetime import timedelta

import pytest

from machines.models import Membership, Role
from operations.events import ROUTE_UPDATED
from operations.models import OperatorProfile, Route, Visit, VisitStatus
from realtime import broadcast
from tests.conftest import client_for
from tests.factories import make_user
from tests.operations.routes_data import DAY, acme_routes

pytestmark = pytest.mark.django_db


@pytest.fixture
def routes(personas):
    return acme_routes(personas)


@pytest.fixture
def sent(monkeypatch):
    events: list[tuple[str, str, dict]] = []
    monkeypatch.setattr(broadcast, "publish_rollback_unsafe",
                        lambda room, event, payload: events.append((room, event, payload)))
    return events


def url(visit) -> str:
    return f"/api/v1/visits/{visit.pk}/move/"


def second_stop(route) -> Visit:
    return route.visits.get(sequence=2)


def test_a_manager_moves_a_stop_to_another_operator(personas, routes, sent,
                                                    django_capture_on_commit_callbacks):
    visit = second_stop(routes["first"])
    second = routes["second_operator"]
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(personas.manager).post(url(visit), {"operatorId": second.pk},
                                                     format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["from"]["id"] == str(routes["first"].pk)
    assert [v["id"] for v in body["from"]["visits"]] == [str(routes["first"].visits.get().pk)]
    assert body["to"]["id"] == str(routes["second"].pk)
    moved = next(v for v in body["to"]["visits"] if v["id"] == str(visit.pk))
    assert moved["pinned"] is True
    assert sorted(v["sequence"] for v in body["to"]["visits"]) == [1, 2, 3]
    visit.refresh_from_db()
    assert visit.route_id == routes["second"].pk and visit.pinned
    updated = {payload["id"] for _room, event, payload in sent if event == ROUTE_UPDATED}
    assert updated == {str(routes["first"].pk), str(routes["second"].pk)}
    assert all(str(personas.rival.pk) not in room for room, _event, _payload in sent)


def test_a_manager_moves_a_stop_to_another_day(personas, routes):
    visit = second_stop(routes["first"])
    later = DAY + timedelta(days=1)
    response = client_for(personas.manager).post(url(visit), {"date": later.isoformat()},
                                                 format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["to"]["date"] == later.isoformat()
    assert body["to"]["operatorId"] == personas.operator.pk
    assert [v["machineId"] for v in body["to"]["visits"]] == [str(visit.machine_id)]
    assert Route.objects.filter(operator=personas.operator, date=later).count() == 1
    assert len(body["from"]["visits"]) == 1


def test_an_operator_a_viewer_and_a_stranger_cannot_move(personas, routes):
    visit = second_stop(routes["first"])
    target = {"operatorId": routes["second_operator"].pk}
    # The operator sees their own stop, but moving is the managers' (403).
    assert client_for(personas.operator).post(url(visit), target,
                                              format="json").status_code == 403
    # A viewer and another organization's manager do not see the stop at all (404).
    for user in (personas.viewer, personas.stranger):
        assert client_for(user).post(url(visit), target, format="json").status_code == 404
    visit.refresh_from_db()
    assert visit.route_id == routes["first"].pk and not visit.pinned


def test_a_manager_of_another_organization_only_cannot_move_here(personas, routes):
    # Manager at rival, operator at acme: acme's stops of others are not theirs to move.
    Membership.objects.create(user=personas.stranger, organization=personas.acme,
                              role=Role.OPERATOR)
    visit = second_stop(routes["second"])
    response = client_for(personas.stranger).post(
        url(visit), {"operatorId": personas.operator.pk}, format="json")
    assert response.status_code == 404


@pytest.mark.parametrize("who", ["viewer", "rival_operator", "without_profile",
                                 "inactive_profile", "deactivated", "unknown"])
def test_the_target_must_be_an_operator_of_the_organization_with_a_profile(
        personas, routes, who):
    if who == "viewer":
        target = personas.viewer.pk
    elif who == "rival_operator":
        target = routes["rival_operator"].pk
    elif who == "without_profile":
        target = make_user("no-profile", organization=personas.acme, role=Role.OPERATOR).pk
    elif who == "inactive_profile":
        OperatorProfile.objects.filter(user=routes["second_operator"]).update(active=False)
        target = routes["second_operator"].pk
    elif who == "deactivated":
        routes["second_operator"].is_active = False
        routes["second_operator"].save()
        target = routes["second_operator"].pk
    else:
        target = 987654321
    visit = second_stop(routes["first"])
    response = client_for(personas.manager).post(url(visit), {"operatorId": target},
                                                 format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["operatorId"]


@pytest.mark.parametrize("status", [VisitStatus.DONE, VisitStatus.CHECKED_IN])
def test_a_visit_done_or_under_way_cannot_move(personas, routes, status):
    visit = second_stop(routes["first"])
    Visit.objects.filter(pk=visit.pk).update(status=status)
    response = client_for(personas.manager).post(
        url(visit), {"operatorId": routes["second_operator"].pk}, format="json")
    assert response.status_code == 400
    assert "status" in response.json()


@pytest.mark.parametrize("body, field", [
    ({}, "operatorId"),
    ({"operatorId": "two"}, "operatorId"),
    ({"operatorId": 0}, "operatorId"),
    ({"operatorId": 10**30}, "operatorId"),
    ({"date": "2030/06/04"}, "date"),
    ({"date": "2030-13-01"}, "date"),
    ({"date": "2001-01-01"}, "date"),
])
def test_a_bad_move_is_a_400_naming_the_field(personas, routes, body, field):
    visit = second_stop(routes["first"])
    response = client_for(personas.manager).post(url(visit), body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    visit.refresh_from_db()
    assert visit.route_id == routes["first"].pk


def test_an_unknown_visit_is_a_404(personas, routes):
    response = client_for(personas.manager).post(
        "/api/v1/visits/00000000-0000-0000-0000-000000000000/move/", {"date": "2030-06-04"},
        format="json")
    assert response.status_code == 404
