"""A device connects to the broker with its machine's serial and device key, and publishes
to its own topics; any other password is refused."""

from __future__ import annotations

import pytest

from devices.models import BrokerCredentialChange
from devices.topics import device_topic
from telemetry.device_keys import issue_device_key
from tests.devices.broker_support import Device, service
from tests.factories import make_machine

pytestmark = pytest.mark.django_db


def issue(machine, **kwargs):
    return issue_device_key(machine=machine, **kwargs)


def test_a_device_with_its_key_connects_and_publishes_its_telemetry(
        mqtt_settings, mqtt_broker, personas, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        key = issue(personas.machine)
    serial = personas.machine.serial_number
    worker = service(mqtt_broker, mqtt_broker.worker)
    worker.subscribe(device_topic(serial, "telemetry"))
    device = Device(mqtt_broker, serial, key.plaintext)
    try:
        assert device.connect()
        assert not device.publish(device_topic(serial, "telemetry"), b'{"temperature": 4}')\
            .is_failure
        message = worker.next_message()
        assert message.topic == device_topic(serial, "telemetry")
        assert message.payload == b'{"temperature": 4}'
    finally:
        device.close()
        worker.close()


@pytest.mark.parametrize("password", ["wrong", "", "vhd_000000000000.nope"])
def test_a_wrong_password_is_refused(mqtt_settings, mqtt_broker, personas, password,
                                     django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        issue(personas.machine)
    device = Device(mqtt_broker, personas.machine.serial_number, password)
    assert not device.connect()
    assert device.connack.value in (134, 135)  # bad user name or password / not authorized


def test_another_machines_key_is_refused(mqtt_settings, mqtt_broker, personas,
                                         django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        issue(personas.machine)
        rival_key = issue(personas.rival_machine)
    device = Device(mqtt_broker, personas.machine.serial_number, rival_key.plaintext)
    assert not device.connect()


def test_the_provisioned_key_is_not_kept_in_the_database(mqtt_settings, personas,
                                                        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        key = issue(personas.machine)
    change = BrokerCredentialChange.objects.get(device_key=key.device_key)
    assert change.settled_at is not None and change.attempts == 1
    assert change.sealed_password == ""


def test_without_a_broker_a_key_is_issued_for_http_only(settings, personas,
                                                       django_capture_on_commit_callbacks):
    settings.MQTT_URL = ""
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        issue(personas.machine)
    assert callbacks == []
    assert not BrokerCredentialChange.objects.exists()


def test_a_serial_that_cannot_be_a_username_gets_an_http_only_key(
        mqtt_settings, personas, django_capture_on_commit_callbacks):
    machine = make_machine(personas.acme, serial_number="SN 42/+")
    with django_capture_on_commit_callbacks(execute=True):
        key = issue(machine)
    assert key.device_key.is_active
    assert not BrokerCredentialChange.objects.filter(device_key=key.device_key).exists()
