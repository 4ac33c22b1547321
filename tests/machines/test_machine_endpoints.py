"""GET /api/v1/machines/: list (paginated, filtered, searched), detail, and the map shape."""

import pytest

from machines.models import MachineStatus
from tests.conftest import client_for
from tests.factories import make_machine

pytestmark = pytest.mark.django_db

URL = "/api/v1/machines/"


def test_anonymous_requests_are_refused(api_client):
    assert api_client.get(URL).status_code == 401


def test_list_is_paginated_and_shows_only_the_users_organization(personas):
    response = client_for(personas.viewer).get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert [machine["id"] for machine in body["results"]] == [str(personas.machine.pk)]


def test_machine_json_is_camel_case_with_bunkers(personas):
    machine = client_for(personas.viewer).get(URL).json()["results"][0]
    assert machine["serialNumber"] == personas.machine.serial_number
    assert machine["organization"] == str(personas.acme.pk)
    assert machine["responsibleOperator"] == personas.operator.pk
    assert machine["latitude"] == 41.2995 and machine["longitude"] == 69.2401
    assert {bunker["ingredientName"] for bunker in machine["bunkers"]} == {"Coffee", "Milk powder"}
    coffee = next(b for b in machine["bunkers"] if b["ingredientName"] == "Coffee")
    assert coffee["percentage"] == 80.0 and coffee["lowLevelAlert"] is False


def test_page_size_query_parameter_paginates(personas):
    for number in range(3):
        make_machine(personas.acme, name=f"Extra {number}")
    body = client_for(personas.viewer).get(URL, {"page_size": 2}).json()
    assert body["count"] == 4
    assert len(body["results"]) == 2
    assert body["next"] is not None


def test_filter_by_status(personas):
    broken = make_machine(personas.acme, name="Broken", status=MachineStatus.ERROR)
    body = client_for(personas.viewer).get(URL, {"status": "error"}).json()
    assert [machine["id"] for machine in body["results"]] == [str(broken.pk)]


def test_filter_by_another_organization_returns_nothing(personas):
    body = client_for(personas.viewer).get(URL, {"organization": str(personas.rival.pk)}).json()
    assert body["count"] == 0


def test_search_matches_name_serial_and_address(personas):
    make_machine(personas.acme, name="Chilonzor Coffee 07", serial_number="VH-0007")
    make_machine(personas.acme, name="Airport", address="Chilonzor district, Bunyodkor 1")
    client = client_for(personas.viewer)
    assert client.get(URL, {"search": "chilonzor"}).json()["count"] == 2
    assert client.get(URL, {"search": "VH-0007"}).json()["count"] == 1


def test_detail_of_own_machine(personas):
    response = client_for(personas.operator).get(f"{URL}{personas.machine.pk}/")
    assert response.status_code == 200
    assert response.json()["name"] == personas.machine.name


def test_with_location_returns_the_plain_map_shape_of_every_machine(personas):
    for number in range(60):  # more than one page: the map shape is never paginated
        make_machine(personas.acme, name=f"Kiosk {number:02d}")
    response = client_for(personas.viewer).get("/api/v1/machines", {"withLocation": "true"})
    assert response.status_code == 200
    markers = response.json()
    assert isinstance(markers, list) and len(markers) == 61
    assert set(markers[0]) == {"id", "name", "lat", "lng", "status"}
    assert str(personas.rival_machine.pk) not in {marker["id"] for marker in markers}


def test_only_the_status_of_a_machine_is_writable(personas):
    """PATCH takes `status` alone (tests/machines/test_held_machine_status.py); the rest of
    a machine is edited in the admin."""
    client = client_for(personas.manager)
    response = client.patch(f"{URL}{personas.machine.pk}/", {"name": "x"})
    assert response.status_code == 400 and "status" in response.json()
    assert client.put(f"{URL}{personas.machine.pk}/", {"name": "x"}).status_code == 405
    assert client.delete(f"{URL}{personas.machine.pk}/").status_code == 405
