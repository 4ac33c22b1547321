"""The operations admin: depots, operator profiles, pack sizes and planning settings edited
by a staff member of one organization, who never sees nor may pick another organization's
depots, operators, machines or products; routes shown read-only with their visits and
what to bring."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from operations.models import Depot, OperatorProfile, PackSize, Route
from sales.models import Product
from tests.operations.routes_data import acme_routes

pytestmark = pytest.mark.django_db


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:operations_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def routes(personas):
    data = acme_routes(personas)
    data["rival_depot"] = Depot.objects.create(organization=personas.rival,
                                               name="Rival Secret Depot", latitude="41.3",
                                               longitude="69.2")
    return data


@pytest.fixture
def staff(client, personas):
    personas.manager.is_staff = True
    personas.manager.save()
    personas.manager.user_permissions.set(
        Permission.objects.filter(content_type__app_label="operations"))
    client.force_login(personas.manager)
    return client


def profile_form(personas, **fields) -> dict:
    return {"organization": str(personas.acme.pk), "user": str(personas.viewer.pk),
            "vehicle_capacity_kg": "300", "shift_start": "08:00", "shift_end": "17:00",
            "start_depot": "", "active": "on", **fields}


def test_the_profile_form_offers_only_the_staff_members_organizations(staff, personas, routes):
    html = staff.get(admin_url(OperatorProfile, "add")).content.decode()
    assert str(routes["depot"].pk) in html
    assert str(routes["rival_depot"].pk) not in html
    assert "rival-operator" not in html and "rival-manager" not in html
    assert str(personas.rival.pk) not in html


def test_a_profile_is_for_an_operator_of_the_organization_with_its_own_depot(
        staff, personas, routes):
    response = staff.post(admin_url(OperatorProfile, "add"), profile_form(personas))
    assert response.status_code == 200
    assert "Choose an operator of this organization." in response.content.decode()
    # Another organization's depot is not even a choice.
    response = staff.post(admin_url(OperatorProfile, "add"), profile_form(
        personas, user=str(personas.operator.pk), start_depot=str(routes["rival_depot"].pk)))
    assert response.status_code == 200
    assert not OperatorProfile.objects.filter(start_depot=routes["rival_depot"]).exists()


def test_a_shift_ends_after_it_starts(staff, personas, routes):
    from machines.models import Role
    from tests.factories import make_user

    newcomer = make_user("acme-newcomer", organization=personas.acme, role=Role.OPERATOR)
    response = staff.post(admin_url(OperatorProfile, "add"), profile_form(
        personas, user=str(newcomer.pk), shift_start="17:00", shift_end="08:00"))
    assert "The shift must end after it starts." in response.content.decode()
    response = staff.post(admin_url(OperatorProfile, "add"), profile_form(
        personas, user=str(newcomer.pk), start_depot=str(routes["depot"].pk)))
    assert response.status_code == 302
    assert OperatorProfile.objects.get(user=newcomer).start_depot == routes["depot"]


def test_a_pack_size_is_of_an_ingredient_or_a_product_of_the_organization(
        staff, personas, routes):
    cola = Product.objects.create(organization=personas.acme, name="Cola", sku="COLA")
    rival_cola = Product.objects.create(organization=personas.rival, name="Rival Cola",
                                        sku="RCOLA")
    form = {"organization": str(personas.acme.pk), "quantity": "12", "weight_grams": "6500"}
    html = staff.get(admin_url(PackSize, "add")).content.decode()
    assert str(cola.pk) in html and str(rival_cola.pk) not in html
    response = staff.post(admin_url(PackSize, "add"), {**form, "ingredient": "",
                                                       "product": ""})
    assert "Choose an ingredient or a product, not both." in response.content.decode()
    response = staff.post(admin_url(PackSize, "add"), {**form, "ingredient": "",
                                                       "product": str(cola.pk)})
    assert response.status_code == 302
    assert PackSize.objects.get(product=cola).quantity == 12


def test_routes_are_read_only_with_their_visits_and_what_to_bring(staff, personas, routes):
    route = routes["first"]
    response = staff.get(admin_url(Route, "change", route.pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert personas.machine.name in html and "Chilonzor Cafe" in html
    assert "Coffee 500 g (1 pack)" in html and "Milk powder 1000 g (2 packs)" in html
    assert 'name="_save"' not in html  # a view page, not a form
    assert staff.get(admin_url(Route, "add")).status_code == 403


def test_the_route_changelist_shows_only_the_staff_members_organization(
        staff, personas, routes):
    response = staff.get(admin_url(Route, "changelist"), {"q": "Cafe"})
    shown = {route.pk for route in response.context["cl"].result_list}
    assert shown == {routes["first"].pk}
    assert staff.get(admin_url(Route, "change", routes["rival"].pk)).status_code == 302
    assert staff.get(admin_url(Depot, "change", routes["rival_depot"].pk)).status_code == 302
