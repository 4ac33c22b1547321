"""GET /api/v1/routes/mine/?date=: the signed-in operator's own routes of a day, in the
organizations they still belong to."""

from __future__ import annotations

from datetime import timedelta

import pytest

from machines.models import Membership, Role
from tests.conftest import client_for
from tests.operations.visit_routes import make_route, today_of

URL = "/api/v1/routes/mine/"


@pytest.fixture
def route(personas):
    return make_route(personas.acme, personas.operator, [personas.machine])


def test_today_is_the_operators_route_with_its_visits_and_lines(personas, route):
    response = client_for(personas.operator).get(URL)
    assert response.status_code == 200
    [document] = response.data
    assert document["id"] == str(route.pk) and document["operatorId"] == personas.operator.pk
    assert [v["machineName"] for v in document["visits"]] == [personas.machine.name]
    assert len(document["visits"][0]["lines"]) == 2


def test_another_day_by_date(personas, route):
    tomorrow = today_of(personas.acme) + timedelta(days=1)
    later = make_route(personas.acme, personas.operator, [personas.machine], day=tomorrow)
    client = client_for(personas.operator)
    assert [r["id"] for r in client.get(URL, {"date": tomorrow.isoformat()}).data] == [
        str(later.pk)]
    assert [r["id"] for r in client.get(URL).data] == [str(route.pk)]
    assert client.get(URL, {"date": "2001-01-01"}).data == []


@pytest.mark.parametrize("value", ["tomorrow", "2026-13-01", "2026-02-30", "1"])
def test_a_bad_date_is_a_400_naming_date(personas, value):
    response = client_for(personas.operator).get(URL, {"date": value})
    assert response.status_code == 400 and "date" in response.data


def test_others_see_none_of_it(personas, route):
    for user in (personas.manager, personas.viewer, personas.stranger):
        assert client_for(user).get(URL).data == []


def test_a_route_of_an_organization_the_operator_left_is_gone(personas, route):
    Membership.objects.filter(user=personas.operator).delete()
    assert client_for(personas.operator).get(URL).data == []


def test_a_two_org_operator_gets_one_route_per_organization(personas, route):
    Membership.objects.create(user=personas.operator, organization=personas.rival,
                              role=Role.OPERATOR)
    other = make_route(personas.rival, personas.operator, [personas.rival_machine])
    ids = {r["id"] for r in client_for(personas.operator).get(URL).data}
    assert ids == {str(route.pk), str(other.pk)}


def test_anonymous_gets_401(db, api_client):
    assert api_client.get(URL).status_code == 401
