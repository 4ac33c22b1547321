"""`PUT /machines/{id}/planogram` names each bad field by its path, in the shape vend
ingestion uses (`{"[3].price": [...]}`): `{"selections[1].price": [...]}`, flat, never DRF's
nested lists of per-item objects."""

from __future__ import annotations

import pytest

from sales.models import Planogram
from sales.serializers import MAX_SELECTIONS, field_paths
from tests.conftest import client_for
from tests.sales.conftest import post_vends, vend_body
from tests.sales.test_planogram_versions import body, url

pytestmark = pytest.mark.django_db


def put(personas, data):
    return client_for(personas.manager).put(url(personas.machine), data, format="json")


def test_every_bad_field_of_every_selection_is_named_by_its_path(personas, products):
    data = body(products, personas)
    data["selections"][0]["price"] = -1
    data["selections"][0]["recipe"].append({"ingredientId": "not-a-uuid", "grams": 0})
    data["selections"][1].update(parLevel="many", code="")
    response = put(personas, data)
    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {"selections[0].price", "selections[0].recipe[1].ingredientId",
                           "selections[0].recipe[1].grams", "selections[1].parLevel",
                           "selections[1].code"}
    assert all(isinstance(messages, list) and messages and all(isinstance(m, str)
                                                               for m in messages)
               for messages in errors.values())
    assert not Planogram.objects.exists()


def test_the_shape_is_the_one_of_vend_ingestion(personas, products, planogram, device):
    vend = post_vends(device, [vend_body(personas.machine), vend_body(
        personas.machine, "t-2", price=-1)]).json()
    data = body(products, personas)
    data["selections"][1]["price"] = -1
    shelf = put(personas, data).json()
    assert list(vend) == ["[1].price"] and list(shelf) == ["selections[1].price"]


@pytest.mark.parametrize(("data", "path"), [
    ({"selections": "1, A3"}, "selections"),
    ({"selections": [None]}, "selections[0]"),
    ({"selections": ["A3"]}, "selections[0]"),
    ([], "non_field_errors"),
    ("selections", "non_field_errors"),
])
def test_a_wrong_json_type_is_named_where_it_is(personas, products, data, path):
    response = put(personas, data)
    assert response.status_code == 400
    assert list(response.json()) == [path]


def test_a_selection_that_breaks_a_rule_of_its_own_is_named(personas, products):
    data = body(products, personas)
    data["selections"][0]["recipe"].append(dict(data["selections"][0]["recipe"][0]))
    assert list(put(personas, data).json()) == ["selections[0].recipe"]


def test_too_many_selections_name_the_list(personas, products):
    one = body(products, personas)["selections"][1]
    data = {"selections": [{**one, "code": f"S{i}"} for i in range(MAX_SELECTIONS + 1)]}
    assert list(put(personas, data).json()) == ["selections"]


def test_field_paths_flattens_nested_errors():
    assert field_paths({"selections": [{}, {"price": ["Too low."]},
                                       {"non_field_errors": ["Bad."]}],
                        "non_field_errors": ["Whole body."]}) == {
        "selections[1].price": ["Too low."], "selections[2]": ["Bad."],
        "non_field_errors": ["Whole body."]}
    assert field_paths({"selections": {3: {"recipe": {0: {"ingredientId": ["No."]}}}}}) == {
        "selections[3].recipe[0].ingredientId": ["No."]}
