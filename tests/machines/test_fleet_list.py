"""The fleet list: `GET /api/v1/machines/` carries each machine's emptiest bunker, its low
bunkers and open errors, searchable (`?search=`) and sortable (`?ordering=`) by them, and
scoped to the viewer's organizations."""

from __future__ import annotations

import pytest
from django.utils import timezone

from machines.models import Membership, Role
from tests.conftest import client_for
from tests.factories import make_bunker, make_machine, make_machine_error

pytestmark = pytest.mark.django_db


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["name"] for row in response.json()["results"]]


@pytest.fixture
def fleet(personas):
    """Acme: the personas' machine (coffee 80 %, milk 75 %), plus three more."""
    empty = make_machine(personas.acme, name="Empty-ish", last_seen_at=timezone.now())
    make_bunker(empty, "Coffee", capacity=1000, level=50)  # 5 %: low (threshold 20 %)
    make_bunker(empty, "Sugar", capacity=1000, level=100)  # 10 %: low
    make_machine_error(empty, "E-BREW")
    make_machine_error(empty, "E-DOOR")
    make_machine_error(empty, "E-OLD", resolved_at=timezone.now())
    half = make_machine(personas.acme, name="Half full", address="Chilanzar 5")
    make_bunker(half, "Coffee", capacity=500, level=250)
    make_machine_error(half, "E-COIN")
    make_machine(personas.acme, name="No bunkers")
    return personas


def test_each_machine_carries_its_emptiest_bunker_low_bunkers_and_open_errors(fleet):
    rows = {row["name"]: row for row in client_for(fleet.manager).get(
        "/api/v1/machines/").json()["results"]}
    assert (rows["Empty-ish"]["lowestBunkerPercent"], rows["Empty-ish"]["lowBunkers"],
            rows["Empty-ish"]["openErrors"]) == (5.0, 2, 2)
    assert (rows["Half full"]["lowestBunkerPercent"], rows["Half full"]["lowBunkers"],
            rows["Half full"]["openErrors"]) == (50.0, 0, 1)
    assert rows[fleet.machine.name]["lowestBunkerPercent"] == 75.0
    assert rows["No bunkers"]["lowestBunkerPercent"] is None
    assert rows["No bunkers"]["openErrors"] == 0


def test_one_machine_shows_the_same_figures_as_the_list(fleet):
    client = client_for(fleet.manager)
    listed = {row["name"]: row for row in client.get("/api/v1/machines/").json()["results"]}
    for row in listed.values():
        detail = client.get(f"/api/v1/machines/{row['id']}/").json()
        for key in ("lowestBunkerPercent", "lowBunkers", "openErrors"):
            assert detail[key] == row[key], (row["name"], key)


@pytest.mark.parametrize("ordering", ["lowest_bunker_percent", "lowestBunkerPercent"])
def test_the_list_sorts_by_the_emptiest_bunker_with_machines_without_bunkers_last(
        fleet, ordering):
    client = client_for(fleet.manager)
    ascending = names(client.get("/api/v1/machines/", {"ordering": ordering}))
    descending = names(client.get("/api/v1/machines/", {"ordering": f"-{ordering}"}))
    assert ascending == ["Empty-ish", "Half full", fleet.machine.name, "No bunkers"]
    assert descending == [fleet.machine.name, "Half full", "Empty-ish", "No bunkers"]


def test_the_list_sorts_by_open_errors_then_name(fleet):
    assert names(client_for(fleet.manager).get(
        "/api/v1/machines/", {"ordering": "-openErrors,name"})) == [
        "Empty-ish", "Half full", fleet.machine.name, "No bunkers"]


def test_never_seen_machines_sort_last_by_last_seen_both_ways(fleet):
    client = client_for(fleet.manager)
    assert names(client.get("/api/v1/machines/", {"ordering": "last_seen_at"}))[0] == "Empty-ish"
    assert names(client.get("/api/v1/machines/", {"ordering": "-lastSeenAt"}))[0] == "Empty-ish"


@pytest.mark.parametrize("ordering", ["colour", "-password", "organization__name", "name,,"])
def test_an_unknown_ordering_is_a_400_naming_it(fleet, ordering):
    response = client_for(fleet.manager).get("/api/v1/machines/", {"ordering": ordering})
    assert response.status_code == 400
    message = response.json()["ordering"][0]
    assert "Unknown field" in message and "lowest_bunker_percent" in message


def test_search_matches_name_serial_and_address(fleet):
    client = client_for(fleet.manager)
    assert names(client.get("/api/v1/machines/", {"search": "empty"})) == ["Empty-ish"]
    assert names(client.get("/api/v1/machines/", {"search": "chilanzar"})) == ["Half full"]
    serial = fleet.machine.serial_number
    assert names(client.get("/api/v1/machines/", {"search": serial})) == [fleet.machine.name]


def test_low_stock_filter_keeps_machines_with_a_bunker_under_its_threshold(fleet):
    client = client_for(fleet.manager)
    assert names(client.get("/api/v1/machines/", {"lowStock": "true"})) == ["Empty-ish"]
    assert "Empty-ish" not in names(client.get("/api/v1/machines/", {"lowStock": "false"}))
    response = client.get("/api/v1/machines/", {"lowStock": "maybe"})
    assert response.status_code == 400 and "lowStock" in response.json()


def test_another_organization_sees_none_of_it(fleet):
    client = client_for(fleet.stranger)
    assert names(client.get("/api/v1/machines/", {"search": "empty"})) == []
    assert names(client.get("/api/v1/machines/", {"ordering": "-open_errors"})) == [
        fleet.rival_machine.name]
    assert names(client.get("/api/v1/machines/", {"lowStock": "true"})) == []


def test_a_member_of_two_organizations_sees_the_machines_of_both(fleet):
    Membership.objects.create(user=fleet.viewer, organization=fleet.rival, role=Role.VIEWER)
    listed = names(client_for(fleet.viewer).get("/api/v1/machines/",
                                                 {"ordering": "lowest_bunker_percent"}))
    assert set(listed) == {"Empty-ish", "Half full", "No bunkers", fleet.machine.name,
                           fleet.rival_machine.name}
    assert listed[-1] == "No bunkers"
