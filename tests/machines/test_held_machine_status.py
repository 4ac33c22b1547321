"""A status a person sets (maintenance) over REST and in the admin: who may, who set it and
since when, one `machine:status`, and `online` handing it back to the readings."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from machines.models import Machine, MachineStatus, Membership, Role
from realtime.rooms import machine_room, map_room
from tests.admin.pages import admin_url, submitted_form
from tests.conftest import client_for
from tests.factories import make_user
from tests.telemetry import conftest as telemetry_fixtures

sent = telemetry_fixtures.sent  # the broadcast recorder fixture

pytestmark = pytest.mark.django_db


def patch_status(user, machine, status):
    return client_for(user).patch(
        f"/api/v1/machines/{machine.pk}/", {"status": status}, format="json")


def test_a_manager_puts_a_machine_into_maintenance_and_is_recorded(personas, sent):
    with sent.capture():
        response = patch_status(personas.manager, personas.machine, "maintenance")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "maintenance"
    assert body["statusSetBy"] == personas.manager.pk
    assert body["statusSetByName"] == "acme-manager"
    assert body["statusSetAt"] is not None
    machine = Machine.objects.get(pk=personas.machine.pk)
    assert machine.status_set_by == personas.manager and machine.status_set_at is not None
    assert machine.updated_by == personas.manager


def test_setting_a_status_emits_exactly_one_machine_status_per_room(personas, sent):
    with sent.capture():
        patch_status(personas.manager, personas.machine, "maintenance")
    assert sorted(sent.rooms("machine:status")) == sorted(
        [machine_room(personas.machine.pk), map_room(personas.acme.pk)])
    assert {p["status"] for p in sent.of("machine:status")} == {"maintenance"}
    sent.clear()
    with sent.capture():  # the same status again: no change, no event
        assert patch_status(personas.manager, personas.machine, "maintenance").status_code == 200
    assert sent.of("machine:status") == []


def test_online_ends_the_hold_and_clears_who_set_it(personas, sent):
    patch_status(personas.manager, personas.machine, "maintenance")
    with sent.capture():
        body = patch_status(personas.manager, personas.machine, "online").json()
    assert body["status"] == "online"
    assert body["statusSetBy"] is None and body["statusSetAt"] is None
    assert [p["status"] for p in sent.of("machine:status", map_room(personas.acme.pk))] == [
        "online"]


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.VIEWER])
def test_operators_and_viewers_may_not_set_the_status(personas, role):
    user = {Role.OPERATOR: personas.operator, Role.VIEWER: personas.viewer}[role]
    assert patch_status(user, personas.machine, "maintenance").status_code == 403
    assert Machine.objects.get(pk=personas.machine.pk).status == MachineStatus.ONLINE


def test_a_manager_of_another_organization_gets_404(personas):
    assert patch_status(personas.stranger, personas.machine, "maintenance").status_code == 404
    assert Machine.objects.get(pk=personas.machine.pk).status == MachineStatus.ONLINE


def test_a_user_in_two_organizations_sets_only_where_they_manage(personas):
    both = make_user("both", organization=personas.rival, role=Role.MANAGER)
    Membership.objects.create(user=both, organization=personas.acme, role=Role.OPERATOR)
    assert patch_status(both, personas.rival_machine, "maintenance").status_code == 200
    assert patch_status(both, personas.machine, "maintenance").status_code == 403


@pytest.mark.parametrize("status", ["offline", "error", "broken", "", None])
def test_a_status_a_person_may_not_set_is_a_400_naming_status(personas, status):
    response = patch_status(personas.manager, personas.machine, status)
    assert response.status_code == 400
    assert "status" in response.json()


def test_a_missing_status_is_a_400_naming_status(personas):
    response = client_for(personas.manager).patch(
        f"/api/v1/machines/{personas.machine.pk}/", {"name": "x"}, format="json")
    assert response.status_code == 400 and "status" in response.json()


def test_put_is_not_allowed(personas):
    response = client_for(personas.manager).put(
        f"/api/v1/machines/{personas.machine.pk}/", {"status": "maintenance"}, format="json")
    assert response.status_code == 405


@pytest.fixture
def staff(personas) -> Client:
    personas.manager.is_staff = True
    personas.manager.save()
    personas.manager.user_permissions.set(
        Permission.objects.filter(content_type__app_label="machines"))
    client = Client()
    client.force_login(personas.manager)
    return client


def save_in_admin(client: Client, machine: Machine, **changes) -> None:
    url = admin_url(Machine, "change", machine.pk)
    data = {**submitted_form(client.get(url)), **changes}
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]


def test_the_admin_change_form_records_the_staff_user_as_setter(personas, staff):
    save_in_admin(staff, personas.machine, status=["maintenance"])
    machine = Machine.objects.get(pk=personas.machine.pk)
    assert machine.status == MachineStatus.MAINTENANCE
    assert machine.status_set_by == personas.manager and machine.status_set_at is not None
    save_in_admin(staff, machine, status=["online"])
    machine = Machine.objects.get(pk=personas.machine.pk)
    assert (machine.status, machine.status_set_by, machine.status_set_at) == (
        MachineStatus.ONLINE, None, None)


def test_the_admin_maintenance_action_records_the_staff_user(personas, staff):
    staff.post(admin_url(Machine, "changelist"), {
        "action": "put_into_maintenance", "_selected_action": [str(personas.machine.pk)]})
    machine = Machine.objects.get(pk=personas.machine.pk)
    assert machine.status == MachineStatus.MAINTENANCE
    assert machine.status_set_by == personas.manager
