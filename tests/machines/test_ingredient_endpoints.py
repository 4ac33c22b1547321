"""GET /api/v1/ingredients/: the organization's ingredients."""

import pytest

from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def test_list_shows_the_organizations_ingredients_with_bunker_counts(personas):
    body = client_for(personas.viewer).get("/api/v1/ingredients/").json()
    assert [(row["name"], row["bunkerCount"]) for row in body["results"]] == [
        ("Coffee", 1),
        ("Milk powder", 1),
    ]


def test_detail_and_search(personas):
    client = client_for(personas.viewer)
    ingredient_id = personas.milk.ingredient_id
    assert client.get(f"/api/v1/ingredients/{ingredient_id}/").json()["name"] == "Milk powder"
    assert client.get("/api/v1/ingredients/?search=milk").json()["count"] == 1
