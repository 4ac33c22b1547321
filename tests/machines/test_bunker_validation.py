"""A bunker's level fits its capacity and its ingredient is one of the machine's
organization: the model's validation, and so the admin's Bunker pages and the Machine
page's bunker inline, refuse anything else with a message on the field."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from machines.models import Bunker, Ingredient
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_a_level_within_the_capacity_is_accepted(personas):
    personas.coffee.current_level_grams = personas.coffee.capacity_grams
    personas.coffee.full_clean()


def test_a_level_above_the_capacity_is_refused(personas):
    personas.coffee.current_level_grams = personas.coffee.capacity_grams + 1
    with pytest.raises(ValidationError) as error:
        personas.coffee.full_clean()
    assert "current_level_grams" in error.value.message_dict


def test_an_ingredient_of_another_organization_is_refused(personas):
    personas.coffee.ingredient = Ingredient.objects.get(organization=personas.rival)
    with pytest.raises(ValidationError) as error:
        personas.coffee.full_clean()
    assert "ingredient" in error.value.message_dict


def test_the_bunker_inline_names_the_bad_level(client, personas):
    client.force_login(make_user("root", is_superuser=True, is_staff=True))
    machine, coffee = personas.machine, personas.coffee
    sugar = Ingredient.objects.create(organization=personas.acme, name="Sugar")
    form = {
        "organization": str(personas.acme.pk), "name": machine.name,
        "serial_number": machine.serial_number, "model": "", "status": machine.status,
        "address": "", "latitude": "41.3", "longitude": "69.2",
        "responsible_operator": str(personas.operator.pk), "telemetry_interval_seconds": "60",
        "bunkers-TOTAL_FORMS": "1", "bunkers-INITIAL_FORMS": "0",
        "bunkers-MIN_NUM_FORMS": "0", "bunkers-MAX_NUM_FORMS": "1000",
        "bunkers-0-ingredient": str(sugar.pk), "bunkers-0-capacity_grams": "500",
        "bunkers-0-current_level_grams": "900", "bunkers-0-low_level_threshold_percent": "20",
    }
    url = reverse("admin:machines_machine_change", args=[machine.pk])
    response = client.post(url, form)
    assert response.status_code == 200
    assert "The level cannot exceed the capacity." in response.content.decode()
    assert not Bunker.objects.filter(ingredient=sugar).exists()

    response = client.post(url, {**form, "bunkers-0-current_level_grams": "400"})
    assert response.status_code == 302
    assert Bunker.objects.get(ingredient=sugar).percentage == 80.0
    assert coffee.pk in set(machine.bunkers.values_list("pk", flat=True))


def test_a_new_machine_is_added_with_its_bunkers_in_one_form(client, personas):
    client.force_login(make_user("root", is_superuser=True, is_staff=True))
    response = client.post(reverse("admin:machines_machine_add"), {
        "organization": str(personas.acme.pk), "name": "Station", "serial_number": "SN-NEW-1",
        "model": "", "status": "offline", "address": "", "latitude": "", "longitude": "",
        "responsible_operator": "", "telemetry_interval_seconds": "60",
        "bunkers-TOTAL_FORMS": "1", "bunkers-INITIAL_FORMS": "0",
        "bunkers-MIN_NUM_FORMS": "0", "bunkers-MAX_NUM_FORMS": "1000",
        "bunkers-0-ingredient": str(personas.coffee.ingredient_id),
        "bunkers-0-capacity_grams": "1000", "bunkers-0-current_level_grams": "1000",
        "bunkers-0-low_level_threshold_percent": "20",
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Bunker.objects.get(machine__serial_number="SN-NEW-1").percentage == 100.0
