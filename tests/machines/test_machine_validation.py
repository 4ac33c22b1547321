"""What the model's validation (and so the admin form) refuses on a machine and its
organization: a responsible operator who is not an operator of the machine's organization
(refill tasks go to them), a telemetry interval of 0 (the watchdog would flip the machine
offline at once), a humidity limit outside 0-100 %."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from machines.models import Machine, Role
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_an_operator_of_the_organization_is_accepted(personas):
    personas.machine.full_clean()


def test_no_responsible_operator_is_accepted(personas):
    personas.machine.responsible_operator = None
    personas.machine.full_clean()


def test_an_operator_of_another_organization_is_refused(personas):
    personas.machine.responsible_operator = make_user(
        "rival-operator", organization=personas.rival, role=Role.OPERATOR)
    with pytest.raises(ValidationError) as error:
        personas.machine.full_clean()
    assert "responsible_operator" in error.value.message_dict


def test_a_manager_is_not_an_operator(personas):
    personas.machine.responsible_operator = personas.manager
    with pytest.raises(ValidationError) as error:
        personas.machine.full_clean()
    assert "responsible_operator" in error.value.message_dict


def test_a_telemetry_interval_of_zero_is_refused(personas):
    personas.machine.telemetry_interval_seconds = 0
    with pytest.raises(ValidationError) as error:
        personas.machine.full_clean()
    assert "telemetry_interval_seconds" in error.value.message_dict


@pytest.mark.parametrize("limit", ["-1", "100.5"])
def test_a_humidity_limit_outside_0_100_is_refused(personas, limit):
    personas.acme.humidity_alert_percent = limit
    with pytest.raises(ValidationError) as error:
        personas.acme.full_clean()
    assert "humidity_alert_percent" in error.value.message_dict


def test_the_admin_form_names_the_field(client, personas):
    client.force_login(make_user("root", is_superuser=True, is_staff=True))
    machine = personas.machine
    url = reverse("admin:machines_machine_change", args=[machine.pk])
    form = {
        "organization": str(personas.acme.pk), "name": machine.name,
        "serial_number": machine.serial_number, "model": "", "status": machine.status,
        "address": "", "latitude": "41.3", "longitude": "69.2",
        "responsible_operator": str(personas.stranger.pk),
        "telemetry_interval_seconds": "60",
        "bunkers-TOTAL_FORMS": "0", "bunkers-INITIAL_FORMS": "0",
        "bunkers-MIN_NUM_FORMS": "0", "bunkers-MAX_NUM_FORMS": "1000",
    }
    response = client.post(url, form)
    assert response.status_code == 200  # the form again, with the error
    assert "Choose an operator of this machine" in response.content.decode()
    assert Machine.objects.get(pk=machine.pk).responsible_operator == personas.operator

    response = client.post(url, {**form, "responsible_operator": str(personas.operator.pk),
                                 "name": "Renamed"})
    assert response.status_code == 302
    assert Machine.objects.get(pk=machine.pk).name == "Renamed"
