"""`GET /api/v1/machines/?withLocation=true` is one unpaginated list of map markers: it
follows the list's filters and search, and refuses more than MAP_MAX_MACHINES markers."""

from __future__ import annotations

import pytest

from machines.models import MachineStatus
from tests.conftest import client_for
from tests.factories import make_machine

pytestmark = pytest.mark.django_db


def map_names(client, **params) -> list[str]:
    response = client.get("/api/v1/machines/", {"withLocation": "true", **params})
    assert response.status_code == 200, response.content
    return [point["name"] for point in response.json()]


def test_the_map_list_is_bounded_with_a_400_naming_with_location(personas, settings):
    for number in range(3):
        make_machine(personas.acme, name=f"Extra {number}")
    settings.MAP_MAX_MACHINES = 3
    response = client_for(personas.manager).get("/api/v1/machines/", {"withLocation": "true"})
    assert response.status_code == 400
    assert "More than 3 located machines" in response.json()["withLocation"][0]

    settings.MAP_MAX_MACHINES = 4
    assert len(map_names(client_for(personas.manager))) == 4


def test_the_bound_counts_only_the_viewers_located_machines(personas, settings):
    make_machine(personas.acme, name="Nowhere", latitude=None, longitude=None)
    settings.MAP_MAX_MACHINES = 1
    assert map_names(client_for(personas.manager)) == [personas.machine.name]
    assert map_names(client_for(personas.stranger)) == [personas.rival_machine.name]


def test_the_map_list_follows_the_status_filter_and_search(personas):
    make_machine(personas.acme, name="Broken one", status=MachineStatus.ERROR)
    client = client_for(personas.manager)
    assert map_names(client, status="error") == ["Broken one"]
    assert map_names(client, search="broken") == ["Broken one"]
    assert map_names(client) == sorted(["Broken one", personas.machine.name])


def test_the_schema_says_the_map_list_is_unpaginated_and_bounded(personas):
    schema = client_for(personas.manager).get("/api/v1/schema/", {"format": "json"}).json()
    parameters = schema["paths"]["/api/v1/machines/"]["get"]["parameters"]
    described = {parameter["name"]: parameter.get("description", "") for parameter in parameters}
    assert "UNPAGINATED" in described["withLocation"]
    assert "MAP_MAX_MACHINES" in described["withLocation"]
    assert {"search", "ordering", "lowStock"} <= set(described)
