"""The broker keeps each device to its own topics: publishing under another serial is
answered "not authorized" and reaches nobody; subscribing to another's commands gets
nothing."""

from __future__ import annotations

import pytest

from devices.topics import device_topic
from telemetry.device_keys import issue_device_key
from tests.devices.broker_support import Device, service

pytestmark = pytest.mark.django_db

NOT_AUTHORIZED = 135


@pytest.fixture
def two_devices(mqtt_settings, mqtt_broker, personas, django_capture_on_commit_callbacks):
    """Acme's machine connected with its key, and the rival's machine's serial."""
    with django_capture_on_commit_callbacks(execute=True):
        key = issue_device_key(machine=personas.machine)
        issue_device_key(machine=personas.rival_machine)
    device = Device(mqtt_broker, personas.machine.serial_number, key.plaintext)
    assert device.connect()
    yield device, personas.rival_machine.serial_number
    device.close()


@pytest.mark.parametrize("kind", ["telemetry", "sales", "audit"])
def test_publishing_to_another_devices_topic_is_refused_and_reaches_nobody(
        mqtt_broker, two_devices, kind):
    device, other = two_devices
    worker = service(mqtt_broker, mqtt_broker.worker)
    try:
        worker.subscribe(device_topic(other, kind))
        answer = device.publish(device_topic(other, kind), b'{"forged": true}')
        assert answer.value == NOT_AUTHORIZED
        assert worker.next_message(timeout=0.5) is None
    finally:
        worker.close()


@pytest.mark.parametrize("topic", ["vendhub/v1/{own}/ack", "vendhub/v1/{own}/commands",
                                   "vendhub/v1/{own}/telemetry/extra", "vendhub/v1/{own}",
                                   "vendhub/v2/{own}/telemetry", "elsewhere", "$SYS/broker"])
def test_a_device_may_not_publish_outside_its_inbound_topics(two_devices, topic):
    device, _ = two_devices
    own = device.client._username.decode()
    assert device.publish(topic.format(own=own)).value == NOT_AUTHORIZED


def test_subscribing_to_another_devices_commands_gets_nothing(mqtt_broker, two_devices):
    device, other = two_devices
    assert device.subscribe(device_topic(other, "commands")).is_failure
    assert device.subscribe("vendhub/v1/+/commands").is_failure
    assert device.subscribe("#").is_failure
    server = service(mqtt_broker, mqtt_broker.server)
    try:
        server.publish(device_topic(other, "commands"), b'{"kind": "reboot"}')
        assert device.next_message(timeout=0.5) is None
    finally:
        server.close()


def test_a_device_receives_its_own_commands(mqtt_broker, two_devices):
    device, _ = two_devices
    own = device.client._username.decode()
    assert not device.subscribe(device_topic(own, "commands")).is_failure
    server = service(mqtt_broker, mqtt_broker.server)
    try:
        server.publish(device_topic(own, "commands"), b'{"kind": "reboot"}')
        assert device.next_message().payload == b'{"kind": "reboot"}'
    finally:
        server.close()
