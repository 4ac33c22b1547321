"""POST /api/v1/routes/plan/: managers plan their organization's day; others are refused."""

from __future__ import annotations

from datetime import timedelta

import pytest

from operations.models import Route
from tests.conftest import client_for
from tests.operations.planning_data import DAY, make_depot, make_driver, running_out

pytestmark = pytest.mark.django_db
URL = "/api/v1/routes/plan/"


@pytest.fixture
def fleet(personas):
    make_driver(personas.acme, personas.operator, depot=make_depot(personas.acme))
    lost = running_out(personas.acme, "Nowhere")
    lost.latitude = lost.longitude = None
    lost.save()
    return {"machines": [running_out(personas.acme, f"M{i}", offset=(0.01 * i, 0))
                         for i in range(3)], "lost": lost}


def test_a_manager_plans_the_day_and_gets_the_routes(personas, fleet):
    response = client_for(personas.manager).post(URL, {"date": DAY.isoformat()},
                                                 format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["date"] == DAY.isoformat()
    assert body["organizationId"] == str(personas.acme.pk)
    (route,) = body["routes"]
    assert route["operatorId"] == personas.operator.pk
    assert {v["machineId"] for v in route["visits"]} == {str(m.pk) for m in fleet["machines"]}
    assert all(v["lines"] and v["plannedArrival"].endswith("Z") for v in route["visits"])
    assert body["unroutable"] == [{"machineId": str(fleet["lost"].pk),
                                   "machineName": "Nowhere"}]
    assert body["unassigned"] == []


def test_operators_and_viewers_may_not_plan(personas, fleet):
    for user in (personas.operator, personas.viewer):
        response = client_for(user).post(URL, {"date": DAY.isoformat(),
                                               "organization": str(personas.acme.pk)},
                                         format="json")
        assert response.status_code == 403
        response = client_for(user).post(URL, {"date": DAY.isoformat()}, format="json")
        assert response.status_code == 403
    assert not Route.objects.exists()


def test_another_organization_is_not_found(personas, fleet):
    response = client_for(personas.stranger).post(
        URL, {"date": DAY.isoformat(), "organization": str(personas.acme.pk)}, format="json")
    assert response.status_code == 404
    assert not Route.objects.exists()


def test_anonymous_clients_are_refused(api_client, personas):
    assert api_client.post(URL, {"date": DAY.isoformat()}, format="json").status_code == 401


@pytest.mark.parametrize("date", [None, "", "tomorrow", "2030-02-30", "03.06.2030"])
def test_a_missing_or_malformed_date_is_a_400_naming_it(personas, date):
    body = {} if date is None else {"date": date}
    response = client_for(personas.manager).post(URL, body, format="json")
    assert response.status_code == 400
    assert "date" in response.json()


def test_a_day_that_has_passed_is_a_400_naming_the_date(personas):
    response = client_for(personas.manager).post(
        URL, {"date": (DAY - timedelta(days=3)).isoformat()}, format="json")
    assert response.status_code == 400
    assert "date" in response.json()


def test_a_malformed_organization_is_a_400_naming_it(personas):
    response = client_for(personas.manager).post(
        URL, {"date": DAY.isoformat(), "organization": "acme"}, format="json")
    assert response.status_code == 400
    assert "organization" in response.json()


def test_a_manager_of_several_organizations_must_name_one(personas):
    from machines.models import Membership, Role

    Membership.objects.create(user=personas.manager, organization=personas.rival,
                              role=Role.MANAGER)
    response = client_for(personas.manager).post(URL, {"date": DAY.isoformat()},
                                                 format="json")
    assert response.status_code == 400
    assert "organization" in response.json()
    response = client_for(personas.manager).post(
        URL, {"date": DAY.isoformat(), "organization": str(personas.rival.pk)}, format="json")
    assert response.status_code == 200
    assert response.json()["routes"] == []
