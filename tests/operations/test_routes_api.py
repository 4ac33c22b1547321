"""GET /api/v1/routes/ and /api/v1/routes/{id}/: managers read their organizations' routes,
operators their own, viewers and strangers none; a bad parameter is a 400 naming it; a page
of routes is read in a fixed number of queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from machines.models import Membership, Role
from operations.models import Route
from tests.conftest import client_for
from tests.factories import make_machine, make_user
from tests.operations.routes_data import DAY, acme_routes, make_route

pytestmark = pytest.mark.django_db

URL = "/api/v1/routes/"


@pytest.fixture
def routes(personas):
    return acme_routes(personas)


def ids(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {route["id"] for route in response.json()["results"]}


def test_a_manager_reads_every_route_of_their_organization(personas, routes):
    found = ids(client_for(personas.manager).get(URL, {"date": DAY.isoformat()}))
    assert found == {str(routes["first"].pk), str(routes["second"].pk)}


def test_an_operator_reads_only_their_own_routes(personas, routes):
    assert ids(client_for(personas.operator).get(URL)) == {str(routes["first"].pk)}
    response = client_for(personas.operator).get(f"{URL}{routes['second'].pk}/")
    assert response.status_code == 404


def test_a_viewer_and_a_stranger_read_no_acme_route(personas, routes):
    assert ids(client_for(personas.viewer).get(URL)) == set()
    assert ids(client_for(personas.stranger).get(URL)) == {str(routes["rival"].pk)}
    for user in (personas.viewer, personas.stranger):
        response = client_for(user).get(f"{URL}{routes['first'].pk}/")
        assert response.status_code == 404, user


def test_anonymous_callers_are_refused(personas, routes, api_client):
    assert api_client.get(URL).status_code == 401


def test_an_operator_who_left_the_organization_no_longer_reads_their_route(personas, routes):
    Membership.objects.filter(user=personas.operator).delete()
    assert ids(client_for(personas.operator).get(URL)) == set()


def test_a_user_of_two_organizations_reads_each_by_their_role_there(personas, routes):
    # Manager at acme, operator at rival: every acme route, only their own rival one.
    Membership.objects.create(user=personas.manager, organization=personas.rival,
                              role=Role.OPERATOR)
    own = make_route(personas.rival, personas.manager, [make_machine(personas.rival)])
    client = client_for(personas.manager)
    assert ids(client.get(URL)) == {str(routes["first"].pk), str(routes["second"].pk),
                                    str(own.pk)}
    assert ids(client.get(URL, {"organization": str(personas.rival.pk)})) == {str(own.pk)}


def test_filters_by_date_organization_and_operator(personas, routes):
    client = client_for(personas.manager)
    later = make_route(personas.acme, personas.operator, [routes["machines"][3]],
                       day=DAY + timedelta(days=1))
    assert ids(client.get(URL, {"date": (DAY + timedelta(days=1)).isoformat()})) == {
        str(later.pk)}
    assert ids(client.get(URL, {"operator": personas.operator.pk})) == {
        str(routes["first"].pk), str(later.pk)}
    assert ids(client.get(URL, {"organization": str(personas.acme.pk),
                                "date": DAY.isoformat()})) == {str(routes["first"].pk),
                                                               str(routes["second"].pk)}
    # Another organization's id is not an error, and shows nothing of it.
    assert ids(client.get(URL, {"organization": str(personas.rival.pk)})) == set()


@pytest.mark.parametrize("name, value", [
    ("date", "03.06.2030"), ("date", "2030-02-30"), ("date", "tomorrow"),
    ("organization", "acme"), ("operator", "x"), ("operator", "-1"),
    ("operator", "99999999999999999999999"),
])
def test_a_bad_parameter_is_a_400_naming_it(personas, routes, name, value):
    response = client_for(personas.manager).get(URL, {name: value})
    assert response.status_code == 400
    assert name in response.json()


def test_the_detail_is_the_route_document_with_visits_in_order(personas, routes):
    route = routes["first"]
    body = client_for(personas.manager).get(f"{URL}{route.pk}/").json()
    assert body["id"] == str(route.pk)
    assert body["date"] == DAY.isoformat()
    assert body["operatorId"] == personas.operator.pk
    assert [visit["sequence"] for visit in body["visits"]] == [1, 2]
    assert body["visits"][0]["machineId"] == str(personas.machine.pk)
    assert body["visits"][0]["plannedArrival"].endswith("Z")
    first_lines = {line["name"]: line for line in body["visits"][0]["lines"]}
    assert first_lines["Coffee"]["plannedQuantity"] == 500
    assert first_lines["Milk powder"]["packs"] == 2


def test_an_unknown_or_malformed_route_id_is_a_404(personas, routes):
    client = client_for(personas.manager)
    assert client.get(f"{URL}00000000-0000-0000-0000-000000000000/").status_code == 404
    assert client.get(f"{URL}not-a-uuid/").status_code == 404


def test_a_page_of_routes_is_read_in_a_fixed_number_of_queries(personas, routes):
    client = client_for(personas.manager)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(URL).status_code == 200
        return len(captured)

    few = queries()
    assert few == 4, few  # the count, the page of routes, their visits, their lines
    for index in range(4):
        operator = make_user(f"extra-{index}", organization=personas.acme, role=Role.OPERATOR)
        machines = [make_machine(personas.acme) for _ in range(3)]
        make_route(personas.acme, operator, machines)
    assert Route.objects.filter(organization=personas.acme).count() == 6
    assert queries() == few
    with CaptureQueriesContext(connection) as captured:
        client.get(f"{URL}{routes['first'].pk}/")
    assert len(captured) <= few
