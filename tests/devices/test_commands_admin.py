"""The admin's machine commands: read-only, and a staff member sees only their
organizations' commands."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from devices.models import MachineCommand

pytestmark = pytest.mark.django_db
AT = datetime(2026, 3, 1, 9, tzinfo=UTC)


def command_of(machine, user) -> MachineCommand:
    return MachineCommand.objects.create(organization=machine.organization, machine=machine,
                                         kind="reboot", created_by=user, expires_at=AT)


@pytest.fixture
def staff_client(client, personas):
    personas.manager.is_staff = True
    personas.manager.save()
    personas.manager.user_permissions.set(
        Permission.objects.filter(content_type__app_label="devices"))
    client.force_login(personas.manager)
    return client


def test_staff_see_only_their_organizations_commands(staff_client, personas):
    own = command_of(personas.machine, personas.manager)
    rival = command_of(personas.rival_machine, personas.stranger)
    response = staff_client.get(reverse("admin:devices_machinecommand_changelist"))
    assert response.status_code == 200
    shown = {command.pk for command in response.context["cl"].result_list}
    assert shown == {own.pk}
    assert staff_client.get(reverse("admin:devices_machinecommand_change",
                                    args=[own.pk])).status_code == 200
    assert staff_client.get(reverse("admin:devices_machinecommand_change",
                                    args=[rival.pk])).status_code in (302, 403)


def test_commands_are_read_only_in_the_admin(staff_client, personas):
    own = command_of(personas.machine, personas.manager)
    assert staff_client.get(reverse("admin:devices_machinecommand_add")).status_code == 403
    response = staff_client.post(reverse("admin:devices_machinecommand_change", args=[own.pk]),
                                 {"state": "acknowledged"})
    assert response.status_code == 403
    own.refresh_from_db()
    assert own.state == "queued"


def test_the_changelist_filters_and_searches(staff_client, personas):
    command_of(personas.machine, personas.manager)
    url = reverse("admin:devices_machinecommand_changelist")
    for query in ("?state__exact=queued", "?kind__exact=reboot",
                  f"?q={personas.machine.serial_number}"):
        response = staff_client.get(url + query)
        assert response.status_code == 200 and len(response.context["cl"].result_list) == 1
