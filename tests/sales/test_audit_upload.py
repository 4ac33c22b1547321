"""People upload audit files: managers on the dashboard (`POST /api/v1/machines/{id}/audits/`,
multipart or text/plain) and staff in the admin ("Import DEX file"), both scoped to their
organizations and both through sales.audits.import_audit."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from sales.dex.writer import write_dex
from sales.models import AuditRecord
from tests.conftest import client_for
from tests.sales.conftest import COFFEE_SERIAL, fixture_text

pytestmark = pytest.mark.django_db

IMPORT_URL = "/admin/sales/auditrecord/import/"


def audits_url(machine) -> str:
    return f"/api/v1/machines/{machine.pk}/audits/"


def dex_file(name: str = "coffee_machine.dex", text: str | None = None) -> SimpleUploadedFile:
    text = fixture_text(name) if text is None else text
    return SimpleUploadedFile(name, text.encode("latin-1"), content_type="application/octet-stream")


def upload(user, machine, file=None):
    return client_for(user).post(audits_url(machine), {"file": file or dex_file()},
                                 format="multipart")


# -- the dashboard's endpoint -------------------------------------------------------------


def test_a_manager_uploads_a_file_and_sees_it_in_the_machines_audits(coffee_machine, personas):
    response = upload(personas.manager, coffee_machine)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["machineId"] == str(coffee_machine.pk) and body["source"] == "admin"
    assert body["flags"] == ["first_audit"] and body["machineSerial"] == COFFEE_SERIAL
    listed = client_for(personas.viewer).get(audits_url(coffee_machine)).json()
    assert [r["id"] for r in listed["results"]] == [body["id"]]
    assert AuditRecord.objects.get().raw_text == fixture_text("coffee_machine.dex")


def test_the_same_file_again_answers_200_with_the_stored_audit(coffee_machine, personas):
    first = upload(personas.manager, coffee_machine).json()
    again = upload(personas.manager, coffee_machine)
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    assert AuditRecord.objects.count() == 1


def test_a_manager_may_post_the_file_as_a_text_plain_body(coffee_machine, personas):
    response = client_for(personas.manager).generic(
        "POST", audits_url(coffee_machine), fixture_text("coffee_machine.dex").encode("latin-1"),
        content_type="text/plain")
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_operators_and_viewers_may_not_upload(coffee_machine, personas, role):
    response = upload(getattr(personas, role), coffee_machine)
    assert response.status_code == 403
    assert not AuditRecord.objects.exists()


def test_another_organizations_machine_does_not_exist_for_the_uploader(coffee_machine,
                                                                        personas):
    assert upload(personas.stranger, coffee_machine).status_code == 404
    assert upload(personas.manager, personas.rival_machine).status_code == 404
    assert not AuditRecord.objects.exists()


def test_an_unauthenticated_upload_is_refused(coffee_machine, api_client):
    response = api_client.post(audits_url(coffee_machine), {"file": dex_file()},
                               format="multipart")
    assert response.status_code in (401, 403)
    assert not AuditRecord.objects.exists()


@pytest.mark.parametrize("body", [{}, {"file": ""}, {"file": "not a file"}])
def test_a_missing_file_is_a_400_naming_file(coffee_machine, personas, body):
    response = client_for(personas.manager).post(audits_url(coffee_machine), body,
                                                 format="multipart")
    assert response.status_code == 400 and "file" in response.json()


def test_an_empty_file_is_a_400_naming_file(coffee_machine, personas):
    response = upload(personas.manager, coffee_machine, dex_file(text=" \r\n"))
    assert response.status_code == 400 and "file" in response.json()


@pytest.mark.parametrize(("fixture", "line", "segment"), [
    ("bad_crc.dex", 57, "G85"), ("truncated.dex", 41, "SE"), ("not_a_number.dex", 26, "PA2"),
])
def test_a_malformed_upload_is_a_400_naming_line_and_segment(coffee_machine, personas, fixture,
                                                             line, segment):
    response = upload(personas.manager, coffee_machine, dex_file(fixture))
    assert response.status_code == 400
    assert (response.json()["line"], response.json()["segment"]) == (line, segment)
    assert not AuditRecord.objects.exists()


def test_an_upload_of_another_serial_is_a_400_naming_the_serial(personas):
    response = upload(personas.manager, personas.machine)
    assert response.status_code == 400 and response.json()["serial"] == COFFEE_SERIAL


def audit_of_size(size: int) -> str:
    """The coffee fixture padded with MA5 notes to exactly `size` bytes."""
    lines = fixture_text("coffee_machine.dex").splitlines()
    data = lines[lines.index("ST*001*0001") + 1:-3]  # without ST, G85, SE, DXE
    base = len(write_dex(data).encode("latin-1"))
    notes = [f"MA5*NOTE*{'x' * 90}"] * ((size - base) // 101 - 1)  # 101 bytes with CR LF
    text = write_dex([*data, *notes])
    notes[-1] += "x" * (size - len(text.encode("latin-1")))
    text = write_dex([*data, *notes])
    assert len(text.encode("latin-1")) == size
    return text


def test_a_file_of_exactly_one_megabyte_is_imported(coffee_machine, personas):
    response = upload(personas.manager, coffee_machine, dex_file(text=audit_of_size(1024 * 1024)))
    assert response.status_code == 201, response.content[:300]
    assert len(AuditRecord.objects.get().raw_text) == 1024 * 1024


def test_a_file_over_one_megabyte_is_a_413(coffee_machine, personas):
    response = upload(personas.manager, coffee_machine, dex_file(text="x" * (1024 * 1024 + 1)))
    assert response.status_code == 413
    assert not AuditRecord.objects.exists()


# -- the admin's "Import DEX file" ----------------------------------------------------------


@pytest.fixture
def staff(client, personas):
    """acme's manager as staff allowed to see and add audits."""
    personas.manager.is_staff = True
    personas.manager.save()
    personas.manager.user_permissions.set(Permission.objects.filter(
        content_type__app_label="sales", codename__in=["view_auditrecord", "add_auditrecord"]))
    client.force_login(personas.manager)
    return client


def test_staff_import_a_file_and_land_on_the_stored_audit(staff, coffee_machine):
    assert "Import DEX file" in staff.get("/admin/sales/auditrecord/").content.decode()
    response = staff.post(IMPORT_URL, {"machine": str(coffee_machine.pk), "file": dex_file()})
    record = AuditRecord.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("admin:sales_auditrecord_change", args=[record.pk])
    assert record.source == "admin" and record.machine == coffee_machine
    page = staff.get(response.url)
    assert page.status_code == 200 and "The audit was imported." in page.content.decode()


def test_the_import_form_offers_only_the_staff_members_machines(staff, coffee_machine, personas):
    content = staff.get(f"{IMPORT_URL}?machine={coffee_machine.pk}").content.decode()
    assert str(coffee_machine.pk) in content
    assert str(personas.rival_machine.pk) not in content
    assert personas.rival_machine.serial_number not in content


def test_staff_cannot_import_for_another_organizations_machine(staff, personas):
    response = staff.post(IMPORT_URL, {"machine": str(personas.rival_machine.pk),
                                       "file": dex_file()})
    assert response.status_code == 200  # the form again, with the machine refused
    assert response.context["form"].errors["machine"]
    assert not AuditRecord.objects.exists()


def test_a_malformed_file_in_the_admin_names_line_and_segment_and_stores_nothing(
        staff, coffee_machine):
    response = staff.post(IMPORT_URL, {"machine": str(coffee_machine.pk),
                                       "file": dex_file("bad_crc.dex")})
    assert response.status_code == 200
    error = " ".join(response.context["form"].errors["file"])
    assert "line 57" in error and "G85" in error
    assert "line 57" in response.content.decode()
    assert not AuditRecord.objects.exists()


def test_staff_without_the_add_permission_neither_see_nor_use_the_import(staff, personas,
                                                                          coffee_machine):
    personas.manager.user_permissions.remove(
        Permission.objects.get(content_type__app_label="sales", codename="add_auditrecord"))
    assert "Import DEX file" not in staff.get("/admin/sales/auditrecord/").content.decode()
    response = staff.post(IMPORT_URL, {"machine": str(coffee_machine.pk), "file": dex_file()})
    assert response.status_code == 403
    assert not AuditRecord.objects.exists()
