"""Device keys: how a machine proves who it is when it posts telemetry.

A key reads `vhd_<prefix>.<secret>`: 12 hex characters of prefix (stored, unique, found by
index) and 32 random bytes of secret (urlsafe base64; only its sha256 is stored). The
plaintext exists once, in the return value of `issue_device_key`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet
from django.dispatch import Signal
from django.utils import timezone

from machines.models import Machine
from telemetry.models import DeviceKey

KEY_PREFIX = "vhd_"

#: Sent inside the transaction that issues a key, with `device_key` and `plaintext`: the
#: only moment the plaintext exists (the MQTT broker's client of the machine is made from it).
device_key_issued = Signal()
#: Sent inside the transaction that revokes keys, with `keys`: the DeviceKey rows (machine
#: loaded) just revoked, so that their broker clients go too.
device_keys_revoked = Signal()


class InvalidDeviceKey(Exception):
    """The key is malformed, unknown or wrong; the message is safe to show the device."""


class RevokedDeviceKey(InvalidDeviceKey):
    pass


@dataclass(frozen=True)
class IssuedKey:
    device_key: DeviceKey
    plaintext: str  # show once, store nowhere


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _split(plaintext: str) -> tuple[str, str]:
    if not plaintext.startswith(KEY_PREFIX):
        raise InvalidDeviceKey("Malformed device key.")
    prefix, dot, secret = plaintext[len(KEY_PREFIX):].partition(".")
    if not dot or not prefix or not secret or len(prefix) > 24 or len(secret) > 128:
        raise InvalidDeviceKey("Malformed device key.")
    return prefix, secret


@transaction.atomic
def issue_device_key(*, machine: Machine, label: str = "",
                     revoke_existing: bool = False) -> IssuedKey:
    """A new key for `machine`; with `revoke_existing`, its other active keys stop working."""
    if revoke_existing:
        revoke_device_keys(keys=DeviceKey.objects.filter(machine=machine))
    prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    device_key = DeviceKey.objects.create(
        machine=machine, prefix=prefix, secret_hash=hash_secret(secret), label=label
    )
    plaintext = f"{KEY_PREFIX}{prefix}.{secret}"
    device_key_issued.send(sender=DeviceKey, device_key=device_key, plaintext=plaintext)
    return IssuedKey(device_key=device_key, plaintext=plaintext)


@transaction.atomic
def revoke_device_keys(*, keys: QuerySet[DeviceKey]) -> int:
    """Revoke the active keys among `keys`; returns how many were revoked."""
    active = list(keys.filter(revoked_at__isnull=True).select_related("machine"))
    if not active:
        return 0
    revoked_at = timezone.now()
    DeviceKey.objects.filter(pk__in=[key.pk for key in active], revoked_at__isnull=True).update(
        revoked_at=revoked_at)
    for key in active:
        key.revoked_at = revoked_at
    device_keys_revoked.send(sender=DeviceKey, keys=active)
    return len(active)


def authenticate_device_key(plaintext: str) -> DeviceKey:
    """The active key matching `plaintext`, with its machine and organization loaded.

    Raises InvalidDeviceKey (RevokedDeviceKey for a revoked one). One indexed query.
    """
    prefix, secret = _split(plaintext)
    device_key = (
        DeviceKey.objects.select_related("machine__organization").filter(prefix=prefix).first()
    )
    if device_key is None or not hmac.compare_digest(device_key.secret_hash, hash_secret(secret)):
        raise InvalidDeviceKey("Invalid device key.")
    if device_key.revoked_at is not None:
        raise RevokedDeviceKey("Device key revoked.")
    return device_key
