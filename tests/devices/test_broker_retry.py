"""A change the broker missed is retried by the watchdog's sweep with a growing delay; one
that can never be applied (its sealed key unreadable) is given up and named by the sync."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from devices.credentials import apply_pending, retry_delay, retry_pending
from devices.models import BrokerCredentialChange
from telemetry.device_keys import issue_device_key
from telemetry.watchdog import SWEEP_CHECKS
from tests.devices.broker_support import Device

pytestmark = pytest.mark.django_db


def test_the_retry_delay_doubles_up_to_ten_minutes():
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 7, 8, 50)] == [
        10, 20, 40, 600, 600, 600]


def test_the_watchdog_sweep_retries_missed_changes():
    assert retry_pending in SWEEP_CHECKS


def test_a_missed_change_waits_for_its_retry_time_then_reaches_the_broker(
        own_mqtt_settings, own_mqtt_broker, personas, django_capture_on_commit_callbacks):
    own_mqtt_broker.stop()
    with django_capture_on_commit_callbacks(execute=True):
        issued = issue_device_key(machine=personas.machine)
    change = BrokerCredentialChange.objects.get()
    assert change.settled_at is None and change.attempts == 1
    assert timezone.now() + timedelta(seconds=5) < change.claimed_until \
        <= timezone.now() + timedelta(seconds=10)

    own_mqtt_broker.start()
    assert retry_pending() == 0  # not due yet
    BrokerCredentialChange.objects.update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert retry_pending() == 1
    device = Device(own_mqtt_broker, personas.machine.serial_number, issued.plaintext)
    assert device.connect()
    device.close()


def test_a_key_sealed_under_another_secret_key_is_given_up_and_named(
        own_mqtt_settings, own_mqtt_broker, personas, django_capture_on_commit_callbacks):
    own_mqtt_broker.stop()
    with django_capture_on_commit_callbacks(execute=True):
        issue_device_key(machine=personas.machine)
    own_mqtt_settings.SECRET_KEY = "another secret key for this test only, long enough to pass"
    own_mqtt_broker.start()
    result = apply_pending(retry_now=True)
    assert result.failed == 1 and "SECRET_KEY" in result.errors[0]
    change = BrokerCredentialChange.objects.get()
    assert change.settled_at is not None and change.sealed_password == ""

    out = io.StringIO()
    call_command("mqtt_sync_credentials", stdout=out, stderr=io.StringIO())
    assert f"{personas.machine.serial_number}: active key but no broker client" in out.getvalue()


def test_nothing_is_retried_without_a_broker(settings, personas):
    settings.MQTT_URL = ""
    assert retry_pending() == 0
