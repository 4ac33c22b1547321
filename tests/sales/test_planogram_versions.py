"""Planograms are versioned: PUT creates a version effective now, GET reads the one in force
(now or `?at=`), `planogram_at` serves old vends and audits with the version of their time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from machines.models import Membership, Role
from sales.models import Planogram
from sales.selectors import planogram_at
from tests.conftest import client_for
from tests.factories import make_user
from tests.sales.conftest import EPOCH, iso, make_product

pytestmark = pytest.mark.django_db


def url(machine) -> str:
    return f"/api/v1/machines/{machine.pk}/planogram"


def body(products, personas, price=16000) -> dict:
    return {"selections": [
        {"code": "1", "productId": str(products["cappuccino"].pk), "price": price,
         "recipe": [{"ingredientId": str(personas.coffee.ingredient_id), "grams": 20}]},
        {"code": "A3", "productId": str(products["snickers"].pk), "price": 12000,
         "capacity": 10, "parLevel": 8},
    ]}


def test_planogram_at_reads_the_version_in_force(personas, planogram, products):
    machine = personas.machine
    assert planogram_at(machine, EPOCH - timedelta(seconds=1)) is None
    assert planogram_at(machine, EPOCH) == planogram
    client_for(personas.manager).put(url(machine), body(products, personas), format="json")
    current = planogram_at(machine)
    assert current != planogram
    assert planogram_at(machine, EPOCH + timedelta(days=1)) == planogram
    assert {s.code: s.price for s in current.selections.all()} == {"1": 16000, "A3": 12000}
    assert {s.code: s.price for s in planogram.selections.all()} == {"1": 15000, "A3": 12000}


def test_get_answers_the_current_version_or_the_one_at(personas, planogram, products):
    client = client_for(personas.operator)
    first = client.get(url(personas.machine)).json()
    assert first["id"] == str(planogram.pk)
    cappuccino = next(s for s in first["selections"] if s["code"] == "1")
    assert cappuccino["price"] == 15000 and cappuccino["productName"] == "Cappuccino"
    assert {i["grams"] for i in cappuccino["recipe"]} == {18, 12}
    client_for(personas.manager).put(url(personas.machine), body(products, personas),
                                     format="json")
    assert client.get(url(personas.machine)).json()["id"] != str(planogram.pk)
    old = client.get(url(personas.machine), {"at": iso(EPOCH + timedelta(hours=1))}).json()
    assert old["id"] == str(planogram.pk)
    assert client.get(url(personas.machine), {"at": iso(EPOCH - timedelta(hours=1))}
                      ).status_code == 404
    assert client.get(url(personas.machine), {"at": "yesterday"}).status_code == 400


def test_put_creates_a_new_version_effective_now(personas, planogram, products):
    response = client_for(personas.manager).put(url(personas.machine), body(products, personas),
                                                format="json")
    assert response.status_code == 201, response.json()
    assert Planogram.objects.filter(machine=personas.machine).count() == 2
    new = Planogram.objects.get(pk=response.json()["id"])
    assert new.effective_from > planogram.effective_from and new.created_by == personas.manager


def test_two_puts_in_a_row_make_two_ordered_versions(personas, products):
    client = client_for(personas.manager)
    ids = [client.put(url(personas.machine), body(products, personas, price), format="json"
                      ).json()["id"] for price in (1000, 2000)]
    assert str(planogram_at(personas.machine).pk) == ids[-1]


def test_operators_and_viewers_read_but_may_not_write(personas, planogram, products):
    for user in (personas.operator, personas.viewer):
        client = client_for(user)
        assert client.get(url(personas.machine)).status_code == 200
        assert client.put(url(personas.machine), body(products, personas),
                          format="json").status_code == 403
    assert Planogram.objects.count() == 1


@pytest.mark.parametrize(("mutate", "path"), [
    (lambda b, o: b["selections"][1].update(productId=o["rival_product"]),
     "selections[1].productId"),
    (lambda b, o: b["selections"][1].update(code="1"), "selections[1].code"),
    (lambda b, o: b["selections"][0].update(price=-5), "selections[0].price"),
    (lambda b, o: b["selections"][0].update(price="15 000"), "selections[0].price"),
    (lambda b, o: b["selections"][1].update(parLevel=11), "selections[1].parLevel"),
    (lambda b, o: b["selections"][0]["recipe"][0].update(ingredientId=o["rival_ingredient"]),
     "selections[0].recipe[0].ingredientId"),
    (lambda b, o: b.pop("selections"), "selections"),
])
def test_bad_input_is_400_naming_the_field(personas, planogram, products, mutate, path):
    others = {"rival_product": str(make_product(personas.rival, "Cola").pk),
              "rival_ingredient": str(personas.rival_machine.bunkers.get().ingredient_id)}
    data = body(products, personas)
    mutate(data, others)
    response = client_for(personas.manager).put(url(personas.machine), data, format="json")
    assert response.status_code == 400
    assert list(response.json()) == [path]  # named by its path, as vend ingestion does
    assert Planogram.objects.count() == 1


def test_another_organizations_machine_is_404(personas, planogram, products):
    stranger = client_for(personas.stranger)
    assert stranger.get(url(personas.machine)).status_code == 404
    assert stranger.put(url(personas.machine), body(products, personas),
                        format="json").status_code == 404


def test_a_manager_in_one_org_and_viewer_in_another_may_not_write_there(personas, products):
    both = make_user("both", organization=personas.rival, role=Role.MANAGER)
    Membership.objects.create(user=both, organization=personas.acme, role=Role.VIEWER)
    client = client_for(both)
    assert client.put(url(personas.machine), body(products, personas),
                      format="json").status_code == 403
    assert client.get(url(personas.rival_machine)).status_code == 404  # none yet, but visible
    assert client.put(url(personas.rival_machine), {"selections": []},
                      format="json").status_code == 201


def test_admin_machine_page_links_to_its_planograms(client, personas, planogram):
    client.force_login(make_user("root", is_superuser=True, is_staff=True))
    page = client.get(reverse("admin:machines_machine_change", args=[personas.machine.pk]))
    assert reverse("admin:sales_planogram_changelist").encode() in page.content
    versions = client.get(reverse("admin:sales_planogram_changelist"),
                          {"machine__id__exact": personas.machine.pk})
    assert versions.status_code == 200
    change = client.get(reverse("admin:sales_planogram_change", args=[planogram.pk]))
    assert b"Snickers" in change.content
