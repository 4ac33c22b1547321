"""The devices app's answers to the telemetry app's device-key signals: a key issued or
revoked changes the machine's client on the MQTT broker (devices/credentials.py)."""

from __future__ import annotations

from django.dispatch import receiver

from devices import credentials
from telemetry.device_keys import device_key_issued, device_keys_revoked


@receiver(device_key_issued, dispatch_uid="devices.broker_client_for_issued_key")
def broker_client_for_issued_key(sender, *, device_key, plaintext, **kwargs) -> None:
    credentials.record_issued(device_key=device_key, plaintext=plaintext)


@receiver(device_keys_revoked, dispatch_uid="devices.broker_clients_of_revoked_keys")
def broker_clients_of_revoked_keys(sender, *, keys, **kwargs) -> None:
    credentials.record_revoked(keys=keys)
