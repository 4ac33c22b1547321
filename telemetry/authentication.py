"""DRF authentication of machines: `Authorization: Device <key>` (see telemetry.device_keys)."""

from __future__ import annotations

from dataclasses import dataclass

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission

from machines.models import Machine
from telemetry.device_keys import InvalidDeviceKey, authenticate_device_key
from telemetry.models import DeviceKey

SCHEME = "Device"


@dataclass(frozen=True)
class Device:
    """`request.user` of a device request: a machine, never a person."""

    machine: Machine
    key: DeviceKey

    is_authenticated = True
    is_active = True
    is_staff = False
    is_superuser = False
    is_anonymous = False

    @property
    def pk(self):
        return None

    def __str__(self) -> str:
        return f"device {self.machine.serial_number}"


class DeviceKeyAuthentication(BaseAuthentication):
    """Authenticates `Authorization: Device <key>`; other schemes are left to other classes."""

    def authenticate(self, request):
        scheme, _, value = get_authorization_header(request).decode("latin-1").partition(" ")
        if scheme.lower() != SCHEME.lower():
            return None
        value = value.strip()
        if not value or " " in value:
            raise exceptions.AuthenticationFailed("Invalid Device header: send `Device <key>`.")
        try:
            key = authenticate_device_key(value)
        except InvalidDeviceKey as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from None
        return Device(machine=key.machine, key=key), key

    def authenticate_header(self, request) -> str:
        return f'{SCHEME} realm="telemetry"'


class IsDevice(BasePermission):
    """Only requests authenticated with a device key."""

    message = "A device key is required (Authorization: Device <key>)."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, Device)


class DeviceKeyScheme(OpenApiAuthenticationExtension):
    target_class = "telemetry.authentication.DeviceKeyAuthentication"
    name = "deviceKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Device <key>`: a machine's device key "
                           "(`manage.py issue_device_key SERIAL` or the admin).",
        }
