"""Device keys: `Authorization: Device <key>`, issued once, stored hashed, revocable."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from telemetry.device_keys import (
    InvalidDeviceKey,
    RevokedDeviceKey,
    authenticate_device_key,
    hash_secret,
    issue_device_key,
    revoke_device_keys,
)
from telemetry.models import DeviceKey, TelemetryReading
from tests.conftest import client_for
from tests.telemetry.conftest import device_client, reading_body

pytestmark = pytest.mark.django_db

URL = "/api/v1/telemetry/"


def test_the_plaintext_is_not_stored(personas):
    issued = issue_device_key(machine=personas.machine)
    row = DeviceKey.objects.get()
    assert issued.plaintext.startswith(f"vhd_{row.prefix}.")
    secret = issued.plaintext.split(".", 1)[1]
    assert row.secret_hash == hash_secret(secret) and secret not in row.secret_hash


def test_a_valid_key_authenticates_its_machine(personas, device_key):
    assert authenticate_device_key(device_key).machine == personas.machine


def test_wrong_key_is_401(personas, device_key):
    tampered = device_key[:-4] + ("AAAA" if not device_key.endswith("AAAA") else "BBBB")
    response = device_client(tampered).post(URL, reading_body(personas.machine), format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Device")
    assert TelemetryReading.objects.count() == 0


@pytest.mark.parametrize("key", ["garbage", "vhd_", "vhd_abc", "vhd_.secret", "vhd_nope.secret"])
def test_malformed_or_unknown_keys_are_401(personas, key):
    response = device_client(key).post(URL, reading_body(personas.machine), format="json")
    assert response.status_code == 401


def test_missing_key_is_401(personas, api_client):
    response = api_client.post(URL, reading_body(personas.machine), format="json")
    assert response.status_code == 401


def test_revoked_key_is_401(personas, device_key):
    revoke_device_keys(keys=DeviceKey.objects.all())
    response = device_client(device_key).post(URL, reading_body(personas.machine), format="json")
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]
    with pytest.raises(RevokedDeviceKey):
        authenticate_device_key(device_key)


def test_revoking_one_key_leaves_the_others(personas, device_key):
    other = issue_device_key(machine=personas.machine).plaintext
    revoke_device_keys(keys=DeviceKey.objects.exclude(prefix=other[4:16]))
    assert authenticate_device_key(other)
    with pytest.raises(InvalidDeviceKey):
        authenticate_device_key(device_key)


def test_a_key_posting_for_another_machine_is_refused(personas):
    rival_key = issue_device_key(machine=personas.rival_machine).plaintext
    response = device_client(rival_key).post(URL, reading_body(personas.machine), format="json")
    assert response.status_code == 403
    assert TelemetryReading.objects.count() == 0


def test_a_user_token_cannot_post_telemetry(personas):
    response = client_for(personas.manager).post(URL, reading_body(personas.machine),
                                                  format="json")
    assert response.status_code in (401, 403)
    assert TelemetryReading.objects.count() == 0


def test_a_device_key_opens_no_user_endpoint(personas, device_key):
    response = device_client(device_key).get("/api/v1/machines/")
    assert response.status_code == 401


def test_issue_device_key_command_prints_a_working_key(personas):
    out, err = io.StringIO(), io.StringIO()
    call_command("issue_device_key", personas.machine.serial_number, stdout=out, stderr=err)
    key = out.getvalue().strip()
    assert authenticate_device_key(key).machine == personas.machine
    assert "not stored" in err.getvalue()


def test_issue_device_key_command_can_revoke_the_old_keys(personas, device_key):
    out = io.StringIO()
    call_command("issue_device_key", personas.machine.serial_number, "--revoke-existing",
                 stdout=out, stderr=io.StringIO())
    with pytest.raises(RevokedDeviceKey):
        authenticate_device_key(device_key)
    assert authenticate_device_key(out.getvalue().strip())


def test_issue_device_key_command_rejects_unknown_serials(db):
    with pytest.raises(CommandError):
        call_command("issue_device_key", "NOPE", stdout=io.StringIO(), stderr=io.StringIO())


# -- admin -------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


def test_admin_issues_a_key_and_shows_it_once(personas, admin_client):
    response = admin_client.post(
        reverse("admin:telemetry_devicekey_add"),
        {"machine": str(personas.machine.pk), "label": "board 7"},
        follow=True,
    )
    assert response.status_code == 200
    [message] = [str(m) for m in response.context["messages"] if "vhd_" in str(m)]
    key = next(word for word in message.split() if word.startswith("vhd_"))
    row = authenticate_device_key(key)
    assert row.machine == personas.machine and row.label == "board 7"
    change_page = admin_client.get(reverse("admin:telemetry_devicekey_change", args=[row.pk]))
    assert key not in change_page.content.decode()


def test_admin_revoke_action(personas, admin_client, device_key):
    key = DeviceKey.objects.get()
    admin_client.post(reverse("admin:telemetry_devicekey_changelist"),
                      {"action": "revoke", "_selected_action": [str(key.pk)]})
    with pytest.raises(RevokedDeviceKey):
        authenticate_device_key(device_key)


def test_staff_see_only_their_organizations_keys(personas, client):
    from django.contrib.auth.models import Permission

    issue_device_key(machine=personas.rival_machine)
    manager = personas.manager
    manager.is_staff = True
    manager.save()
    manager.user_permissions.add(*Permission.objects.filter(codename__endswith="devicekey"))
    client.force_login(manager)
    page = client.get(reverse("admin:telemetry_devicekey_changelist"))
    assert page.status_code == 200
    assert personas.rival_machine.serial_number not in page.content.decode()
