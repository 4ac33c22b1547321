"""Revoking a device key (the admin's action, or issuing a replacement with
`revoke_existing`) removes the machine's broker client: a connected device is disconnected
within a second and cannot connect again. Staff of another organization revoke nothing."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from telemetry.device_keys import issue_device_key, revoke_device_keys
from telemetry.models import DeviceKey
from tests.devices.broker_support import Device

pytestmark = pytest.mark.django_db


@pytest.fixture
def connected(mqtt_settings, mqtt_broker, personas, django_capture_on_commit_callbacks):
    """Acme's machine connected to the broker with its key: (device, key)."""
    with django_capture_on_commit_callbacks(execute=True):
        issued = issue_device_key(machine=personas.machine)
    device = Device(mqtt_broker, personas.machine.serial_number, issued.plaintext)
    assert device.connect()
    yield device, issued
    device.close()


def staff_client(client, user):
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(codename__endswith="devicekey"))
    client.force_login(user)
    return client


def revoke_in_admin(client, key: DeviceKey):
    return client.post(reverse("admin:telemetry_devicekey_changelist"),
                       {"action": "revoke", "_selected_action": [str(key.pk)]})


def test_the_admins_revoke_action_disconnects_the_device_within_a_second(
        mqtt_broker, personas, connected, client, django_capture_on_commit_callbacks):
    device, issued = connected
    manager = staff_client(client, personas.manager)
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        response = revoke_in_admin(manager, issued.device_key)
    assert response.status_code == 302
    assert device.disconnected.wait(1.0)
    assert time.monotonic() - started < 1.0
    again = Device(mqtt_broker, personas.machine.serial_number, issued.plaintext)
    assert not again.connect()


def test_staff_of_another_organization_revoke_nothing(
        personas, connected, client, django_capture_on_commit_callbacks):
    device, issued = connected
    stranger = staff_client(client, personas.stranger)
    with django_capture_on_commit_callbacks(execute=True):
        revoke_in_admin(stranger, issued.device_key)
    issued.device_key.refresh_from_db()
    assert issued.device_key.is_active
    assert not device.disconnected.wait(0.5)


def test_a_replacement_key_disconnects_the_old_one_and_connects_itself(
        mqtt_broker, personas, connected, django_capture_on_commit_callbacks):
    device, old = connected
    with django_capture_on_commit_callbacks(execute=True):
        new = issue_device_key(machine=personas.machine, revoke_existing=True)
    assert device.disconnected.wait(1.0)
    assert not Device(mqtt_broker, personas.machine.serial_number, old.plaintext).connect()
    replacement = Device(mqtt_broker, personas.machine.serial_number, new.plaintext)
    assert replacement.connect()
    replacement.close()


def test_revoking_an_older_key_keeps_the_newer_keys_client(
        mqtt_broker, personas, connected, django_capture_on_commit_callbacks):
    """The broker holds a machine's newest key; revoking one it does not hold leaves it."""
    device, old = connected
    with django_capture_on_commit_callbacks(execute=True):
        new = issue_device_key(machine=personas.machine)
    # One broker client per serial: the newer key replaced the older one there.
    assert device.disconnected.wait(1.0)
    replacement = Device(mqtt_broker, personas.machine.serial_number, new.plaintext)
    assert replacement.connect()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert revoke_device_keys(keys=DeviceKey.objects.filter(pk=old.device_key.pk)) == 1
        assert not replacement.disconnected.wait(0.5)
    finally:
        replacement.close()


def test_revoking_keys_already_revoked_changes_nothing(
        personas, connected, django_capture_on_commit_callbacks):
    device, issued = connected
    with django_capture_on_commit_callbacks(execute=True):
        assert revoke_device_keys(keys=DeviceKey.objects.filter(pk=issued.device_key.pk)) == 1
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert revoke_device_keys(keys=DeviceKey.objects.filter(pk=issued.device_key.pk)) == 0
    assert callbacks == []
