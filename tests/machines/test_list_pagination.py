"""Every list endpoint of the REST API is paginated (`?page=`, `?page_size=`, capped) and
ordered; the one exception is the map shape of `GET /machines/?withLocation=true`."""

from __future__ import annotations

import pytest

from machines.models import Ingredient, Role
from tests.conftest import client_for
from tests.factories import make_machine, make_notification, make_task, make_user

pytestmark = pytest.mark.django_db

MAX_PAGE_SIZE = 500


@pytest.fixture
def three_of_everything(personas):
    """Three more rows for every list the manager sees."""
    for number in range(3):
        machine = make_machine(personas.acme, name=f"Extra {number}")
        make_task(machine, title=f"Task {number}")
        make_notification(personas.manager, personas.acme, title=f"Note {number}")
        make_user(f"operator-{number}", organization=personas.acme, role=Role.OPERATOR)
        Ingredient.objects.create(organization=personas.acme, name=f"Ingredient {number}")
    return personas


LISTS = ["machines", "ingredients", "tasks", "operators", "notifications"]


@pytest.mark.parametrize("name", LISTS)
def test_every_list_is_paginated_with_count_and_links(three_of_everything, name):
    client = client_for(three_of_everything.manager)
    first = client.get(f"/api/v1/{name}/", {"page_size": 2}).json()
    assert set(first) == {"count", "next", "previous", "results"}
    assert first["count"] >= 3 and len(first["results"]) == 2
    assert first["previous"] is None and "page=2" in first["next"]

    second = client.get(first["next"]).json()
    assert second["previous"] is not None
    ids = [row["id"] for row in first["results"] + second["results"]]
    assert len(ids) == len(set(ids))  # pages do not overlap


@pytest.mark.parametrize("name", LISTS)
def test_page_size_is_capped(three_of_everything, name):
    response = client_for(three_of_everything.manager).get(
        f"/api/v1/{name}/", {"page_size": MAX_PAGE_SIZE * 10})
    assert response.status_code == 200
    assert len(response.json()["results"]) <= MAX_PAGE_SIZE


@pytest.mark.parametrize("name", LISTS)
def test_a_page_past_the_end_is_a_404_with_a_reason(three_of_everything, name):
    response = client_for(three_of_everything.manager).get(f"/api/v1/{name}/", {"page": 999})
    assert response.status_code == 404
    assert "detail" in response.json()


@pytest.mark.parametrize("name, ordering, key", [
    ("machines", "name", "name"), ("ingredients", "name", "name"),
    ("tasks", "created_at", "createdAt"), ("notifications", "created_at", "createdAt"),
    ("operators", "username", "username"),
])
def test_every_list_can_be_ordered_both_ways(three_of_everything, name, ordering, key):
    client = client_for(three_of_everything.manager)
    ascending = [row[key] for row in client.get(
        f"/api/v1/{name}/", {"ordering": ordering}).json()["results"]]
    descending = [row[key] for row in client.get(
        f"/api/v1/{name}/", {"ordering": f"-{ordering}"}).json()["results"]]
    assert ascending == sorted(ascending) and len(set(ascending)) > 1
    assert descending == sorted(ascending, reverse=True)


def test_the_map_shape_is_the_one_unpaginated_list(three_of_everything):
    body = client_for(three_of_everything.manager).get(
        "/api/v1/machines/", {"withLocation": "true", "page_size": 1}).json()
    assert isinstance(body, list) and len(body) == 4
    assert set(body[0]) == {"id", "name", "lat", "lng", "status"}
