"""POST /api/v1/audits/ (device key, text/plain) and GET /api/v1/machines/{id}/audits/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from sales.models import AuditRecord
from telemetry.device_keys import issue_device_key
from tests.conftest import client_for
from tests.factories import make_machine
from tests.sales.conftest import (
    COFFEE_SERIAL,
    coffee_audit,
    device_client,
    fixture_text,
    post_vends,
    vend_body,
)

pytestmark = pytest.mark.django_db


def post_audit(client, text: str):
    return client.generic("POST", "/api/v1/audits/", text.encode("latin-1"),
                          content_type="text/plain")


def test_a_coffee_audit_is_stored_once_and_a_resend_answers_200(coffee_machine, device):
    text = fixture_text("coffee_machine.dex")
    response = post_audit(device, text)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["machineId"] == str(coffee_machine.pk)
    assert body["flags"] == ["first_audit"] and body["periodFrom"] is None
    assert body["periodTo"].endswith("Z") and body["reconciliation"]["comparable"] is False
    again = post_audit(device, text)
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert AuditRecord.objects.get().raw_text == text


def test_a_second_audit_reconciles_with_vends_posted_in_between(coffee_machine, device,
                                                               personas):
    now = timezone.now()
    tz = personas.acme.time_zone
    assert post_audit(device, coffee_audit(read_at=now - timedelta(hours=2),
                                           time_zone=tz)).status_code == 201
    vends = [vend_body(coffee_machine, f"t-{i}", selection="3", price=14000,
                       at=now - timedelta(minutes=30)) for i in range(3)]
    assert post_vends(device, vends).status_code == 201
    response = post_audit(device, coffee_audit(read_at=now, time_zone=tz, sold={"3": 3}))
    assert response.status_code == 201
    body = response.json()
    assert body["flags"] == [] and body["periodFrom"] is not None
    assert body["totals"]["paidVends"] == 3 and body["totals"]["paidValue"] == 42000
    assert body["reconciliation"]["matches"] is True
    assert body["reconciliation"]["eventVends"] == 3


@pytest.mark.parametrize(("fixture", "line", "segment"), [
    ("bad_crc.dex", 57, "G85"), ("truncated.dex", 41, "SE"),
    ("wrong_segment_count.dex", 58, "SE"), ("not_a_number.dex", 26, "PA2"),
])
def test_a_malformed_audit_is_a_400_naming_line_and_segment(coffee_machine, device, fixture,
                                                           line, segment):
    response = post_audit(device, fixture_text(fixture))
    assert response.status_code == 400
    assert (response.json()["line"], response.json()["segment"]) == (line, segment)
    assert not AuditRecord.objects.exists()


def test_an_audit_with_a_foreign_serial_is_a_400(personas, device):
    response = post_audit(device, fixture_text("coffee_machine.dex"))
    assert response.status_code == 400 and response.json()["serial"] == COFFEE_SERIAL
    assert not AuditRecord.objects.exists()


def test_another_machines_audit_with_this_key_is_a_403(coffee_machine, personas):
    other = make_machine(personas.acme)
    client = device_client(issue_device_key(machine=other).plaintext)
    assert post_audit(client, fixture_text("coffee_machine.dex")).status_code == 403
    assert not AuditRecord.objects.exists()


def test_a_body_over_the_limit_is_a_413_and_an_empty_one_a_400(coffee_machine, device):
    assert post_audit(device, "x" * (1024 * 1024 + 1)).status_code == 413
    assert post_audit(device, "").status_code == 400
    assert post_audit(device, "DXS*1").status_code == 400


def test_people_read_their_machines_audits_and_not_others(coffee_machine, device, personas):
    post_audit(device, fixture_text("coffee_machine.dex"))
    mine = client_for(personas.manager).get(f"/api/v1/machines/{coffee_machine.pk}/audits/")
    assert mine.status_code == 200 and mine.json()["count"] == 1
    assert mine.json()["results"][0]["flags"] == ["first_audit"]
    theirs = client_for(personas.stranger).get(f"/api/v1/machines/{coffee_machine.pk}/audits/")
    assert theirs.status_code == 404
    assert client_for(personas.manager).get(
        f"/api/v1/machines/{personas.rival_machine.pk}/audits/").status_code == 404
