"""GET/POST /api/v1/products/: members read their organizations' products, managers create."""

from __future__ import annotations

import pytest

from machines.models import Membership, Role
from sales.models import Product
from tests.conftest import client_for
from tests.factories import make_organization, make_user
from tests.sales.conftest import make_product

pytestmark = pytest.mark.django_db

URL = "/api/v1/products/"


def test_members_list_only_their_organizations_products(personas, products):
    make_product(personas.rival, "Rival cola")
    for user in (personas.manager, personas.operator, personas.viewer):
        body = client_for(user).get(URL).json()
        assert sorted(p["name"] for p in body["results"]) == ["Cappuccino", "Snickers"]
    snickers = client_for(personas.viewer).get(f"{URL}{products['snickers'].pk}/").json()
    assert snickers["unitCost"] == 6000 and snickers["category"] == "snacks"


def test_another_organizations_product_is_404(personas):
    rival = make_product(personas.rival, "Rival cola")
    assert client_for(personas.manager).get(f"{URL}{rival.pk}/").status_code == 404


def test_manager_creates_a_product_with_integer_money(personas):
    response = client_for(personas.manager).post(URL, {
        "name": "Americano", "sku": "AM-1", "barcode": "4780000000011", "unitCost": 3500,
        "category": "coffee"}, format="json")
    assert response.status_code == 201, response.json()
    product = Product.objects.get(sku="AM-1")
    assert product.organization == personas.acme and product.unit_cost == 3500
    assert response.json()["organization"] == str(personas.acme.pk)


def test_operators_and_viewers_may_not_create(personas):
    for user in (personas.operator, personas.viewer):
        response = client_for(user).post(URL, {"name": "X", "sku": "X"}, format="json")
        assert response.status_code == 403
    assert not Product.objects.exists()


@pytest.mark.parametrize(("body", "field"), [
    ({"sku": "S"}, "name"),
    ({"name": "N"}, "sku"),
    ({"name": "N", "sku": "S", "unitCost": -1}, "unitCost"),
    ({"name": "N", "sku": "S", "unitCost": 1.5}, "unitCost"),
    ({"name": "N", "sku": "CAPPUCCINO"}, "sku"),
])
def test_bad_input_is_400_naming_the_field(personas, products, body, field):
    response = client_for(personas.manager).post(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_a_manager_of_two_organizations_names_one_they_manage(personas):
    other = make_organization("Other")
    Membership.objects.create(user=personas.manager, organization=other, role=Role.MANAGER)
    client = client_for(personas.manager)
    response = client.post(URL, {"name": "Tea", "sku": "T"}, format="json")
    assert response.status_code == 400 and "organization" in response.json()
    response = client.post(URL, {"name": "Tea", "sku": "T", "organization": str(other.pk)},
                           format="json")
    assert response.status_code == 201
    assert Product.objects.get(sku="T").organization == other
    # An organization they do not manage (rival) is not a choice.
    response = client.post(URL, {"name": "Tea", "sku": "T2",
                                 "organization": str(personas.rival.pk)}, format="json")
    assert response.status_code == 400 and "organization" in response.json()


def test_a_user_in_two_organizations_sees_both_catalogues(personas, products):
    both = make_user("both", organization=personas.acme, role=Role.VIEWER)
    Membership.objects.create(user=both, organization=personas.rival, role=Role.VIEWER)
    make_product(personas.rival, "Rival cola")
    names = {p["name"] for p in client_for(both).get(URL).json()["results"]}
    assert names == {"Cappuccino", "Snickers", "Rival cola"}
