"""A key issued in the admin is on the broker when the page answers, and the page says how
the machine connects over MQTT."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.devices.broker_support import Device

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.com", "pw"))
    return client


def issue_in_admin(client, machine):
    response = client.post(reverse("admin:telemetry_devicekey_add"),
                           {"machine": str(machine.pk), "label": "board 7"}, follow=True)
    assert response.status_code == 200
    texts = [str(message) for message in response.context["messages"]]
    key = next(word for text in texts for word in text.split() if word.startswith("vhd_"))
    return key, texts


def test_a_key_issued_in_the_admin_connects_at_once(
        mqtt_settings, mqtt_broker, personas, admin_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        key, texts = issue_in_admin(admin_client, personas.machine)
    serial = personas.machine.serial_number
    assert any(f"username {serial}" in text for text in texts)
    device = Device(mqtt_broker, serial, key)
    assert device.connect()
    device.close()


def test_without_a_broker_the_admin_says_nothing_of_mqtt(settings, personas, admin_client):
    settings.MQTT_URL = ""
    key, texts = issue_in_admin(admin_client, personas.machine)
    assert not any("MQTT" in text for text in texts)


def test_the_broker_down_does_not_stop_the_admin_from_issuing(
        settings, own_mqtt_broker, personas, admin_client, django_capture_on_commit_callbacks):
    settings.MQTT_URL, settings.MQTT_CONTROL_TIMEOUT = own_mqtt_broker.server_url, 1.0
    own_mqtt_broker.stop()
    with django_capture_on_commit_callbacks(execute=True):
        key, _ = issue_in_admin(admin_client, personas.machine)
    assert key.startswith("vhd_")
