"""A broker that cannot be reached never stops a device key from being issued or revoked:
the change waits in the outbox and `manage.py mqtt_sync_credentials` applies it later, and
also removes broker clients whose key is no longer active."""

from __future__ import annotations

import io
import time

import pytest
from django.core.management import CommandError, call_command

from devices.broker import MqttAddress
from devices.credentials import key_marker, provision, run_async
from devices.dynsec import DynsecSession
from devices.models import BrokerCredentialChange, CredentialAction
from telemetry.device_keys import issue_device_key, revoke_device_keys
from telemetry.models import DeviceKey
from tests.devices.broker_support import Device
from tests.factories import make_machine

pytestmark = pytest.mark.django_db


def sync() -> str:
    out = io.StringIO()
    call_command("mqtt_sync_credentials", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_a_key_issued_while_the_broker_is_down_is_provisioned_by_the_sync(
        own_mqtt_settings, own_mqtt_broker, personas, django_capture_on_commit_callbacks):
    own_mqtt_broker.stop()
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        issued = issue_device_key(machine=personas.machine)
    assert time.monotonic() - started < 3.0
    assert issued.device_key.is_active
    change = BrokerCredentialChange.objects.get(device_key=issued.device_key)
    assert change.settled_at is None and change.attempts == 1
    assert "unreachable" in change.last_error
    assert change.sealed_password and issued.plaintext not in change.sealed_password
    with pytest.raises(CommandError, match="cannot be reached"):
        sync()

    own_mqtt_broker.start()
    assert "changes applied: 1, failed: 0" in sync()
    change.refresh_from_db()
    assert change.settled_at is not None and change.sealed_password == ""
    device = Device(own_mqtt_broker, personas.machine.serial_number, issued.plaintext)
    assert device.connect()
    device.close()


def test_a_key_revoked_while_the_broker_is_down_is_removed_by_the_sync(
        own_mqtt_settings, own_mqtt_broker, personas, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        issued = issue_device_key(machine=personas.machine)
    own_mqtt_broker.stop()
    with django_capture_on_commit_callbacks(execute=True):
        revoke_device_keys(keys=DeviceKey.objects.filter(pk=issued.device_key.pk))
    assert BrokerCredentialChange.objects.filter(
        action=CredentialAction.REMOVE, settled_at__isnull=True).count() == 1

    own_mqtt_broker.start()  # the broker still knows the key: its removal is pending
    sync()
    device = Device(own_mqtt_broker, personas.machine.serial_number, issued.plaintext)
    assert not device.connect()


def test_a_key_issued_and_revoked_while_the_broker_is_down_never_reaches_it(
        own_mqtt_settings, own_mqtt_broker, personas, django_capture_on_commit_callbacks):
    own_mqtt_broker.stop()
    with django_capture_on_commit_callbacks(execute=True):
        issued = issue_device_key(machine=personas.machine)
        revoke_device_keys(keys=DeviceKey.objects.filter(pk=issued.device_key.pk))
    provisioning = BrokerCredentialChange.objects.get(action=CredentialAction.PROVISION)
    assert provisioning.sealed_password == "" and provisioning.settled_at is not None
    own_mqtt_broker.start()
    sync()
    assert not Device(own_mqtt_broker, personas.machine.serial_number, issued.plaintext).connect()


def test_the_sync_removes_stale_clients_and_names_keys_that_predate_mqtt(
        settings, own_mqtt_settings, own_mqtt_broker, personas, django_capture_on_commit_callbacks):
    settings.MQTT_URL = ""
    with django_capture_on_commit_callbacks(execute=True):
        issue_device_key(machine=personas.machine)  # no broker then: HTTP only
    settings.MQTT_URL = own_mqtt_broker.server_url
    gone = make_machine(personas.rival, serial_number="SN-SCRAPPED")

    async def stale_client():
        async with DynsecSession(MqttAddress.parse(own_mqtt_broker.server_url)) as session:
            await provision(session, serial=gone.serial_number, password="old",
                            marker=key_marker("000000000000"))

    run_async(stale_client())
    stale = Device(own_mqtt_broker, "SN-SCRAPPED", "old")
    assert stale.connect() is True
    stale.close()

    out = sync()
    assert "removed the broker client of SN-SCRAPPED" in out
    assert f"{personas.machine.serial_number}: active key but no broker client" in out
    assert not Device(own_mqtt_broker, "SN-SCRAPPED", "old").connect()


def test_the_sync_needs_a_broker_url(settings):
    settings.MQTT_URL = ""
    with pytest.raises(CommandError, match="MQTT_URL"):
        sync()


def test_issue_device_key_command_provisions_at_once(
        mqtt_settings, mqtt_broker, personas, django_capture_on_commit_callbacks):
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("issue_device_key", personas.machine.serial_number, stdout=out,
                     stderr=io.StringIO())
    key = out.getvalue().strip()
    device = Device(mqtt_broker, personas.machine.serial_number, key)
    assert device.connect()
    device.close()
