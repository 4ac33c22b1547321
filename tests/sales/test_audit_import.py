"""sales.audits.import_audit: a baseline first, then periods as differences reconciled with
the vends in between; idempotent per file; nothing stored for a rejected file."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from sales.audits import AuditRejected, import_audit
from sales.ingest import ingest_vends
from sales.models import AuditRecord
from sales.vends import VendIn
from tests.sales.conftest import COFFEE_SERIAL, coffee_audit, fixture_text

pytestmark = pytest.mark.django_db


def test_first_audit_is_a_flagged_baseline(coffee_machine):
    result = import_audit(machine=coffee_machine, text=fixture_text("coffee_machine.dex"),
                          source="device")
    record = result.record
    assert result.created and record.previous is None
    assert record.period["baseline"] and record.period["flags"] == ["first_audit"]
    assert record.reconciliation["comparable"] is False
    assert record.machine_serial == COFFEE_SERIAL
    assert record.read_at.astimezone(timezone.get_default_timezone()).strftime(
        "%y%m%d %H%M") == "250611 0815"


def test_the_same_file_again_is_the_existing_record(coffee_machine):
    text = fixture_text("coffee_machine.dex")
    first = import_audit(machine=coffee_machine, text=text, source="device")
    again = import_audit(machine=coffee_machine, text=text, source="device")
    assert (again.created, again.record.pk) == (False, first.record.pk)
    assert AuditRecord.objects.count() == 1


def test_a_second_audit_is_the_difference_reconciled_with_the_vends_between(coffee_machine):
    now = timezone.now()
    tz = coffee_machine.organization.time_zone
    first = import_audit(machine=coffee_machine, source="device", now=now - timedelta(hours=3),
                         text=coffee_audit(read_at=now - timedelta(hours=3), time_zone=tz))
    ingest_vends(machine=coffee_machine, vends=[
        VendIn("old", "3", 14000, "cash", "", now - timedelta(hours=5)),  # before the period
        VendIn("t-1", "3", 14000, "cash", "", now - timedelta(hours=1)),
        VendIn("t-2", "003", 14000, "card", "", now - timedelta(hours=1)),
    ])
    second = import_audit(machine=coffee_machine, source="device", now=now,
                          text=coffee_audit(read_at=now - timedelta(minutes=1), time_zone=tz,
                                            sold={"3": 2})).record
    assert second.previous_id == first.record.pk
    assert second.period["flags"] == [] and not second.period["baseline"]
    assert second.period["totals"]["paidVends"] == 2
    assert second.period["totals"]["paidValue"] == 28000
    by_selection = {s["selection"]: s for s in second.period["selections"]}
    assert (by_selection["3"]["vends"], by_selection["3"]["value"]) == (2, 28000)
    assert by_selection["1"]["vends"] == 0
    reconciliation = second.reconciliation
    assert reconciliation["comparable"] and reconciliation["matches"]
    assert (reconciliation["eventVends"], reconciliation["eventValue"]) == (2, 28000)


def test_vends_the_audit_does_not_show_are_a_difference(coffee_machine):
    now = timezone.now()
    tz = coffee_machine.organization.time_zone
    import_audit(machine=coffee_machine, source="device", now=now - timedelta(hours=3),
                 text=coffee_audit(read_at=now - timedelta(hours=3), time_zone=tz))
    ingest_vends(machine=coffee_machine, vends=[
        VendIn("t-1", "4", 14000, "cash", "", now - timedelta(hours=1))])
    second = import_audit(machine=coffee_machine, source="device", now=now,
                          text=coffee_audit(read_at=now, time_zone=tz, sold={"3": 1})).record
    reconciliation = second.reconciliation
    assert not reconciliation["matches"]
    by_selection = {s["selection"]: s for s in reconciliation["selections"]}
    assert by_selection["3"]["vendsDifference"] == 1
    assert by_selection["4"]["vendsDifference"] == -1
    assert reconciliation["vendsDifference"] == 0


@pytest.mark.parametrize(("fixture", "line", "segment"), [
    ("bad_crc.dex", 57, "G85"), ("truncated.dex", 41, "SE"),
    ("wrong_segment_count.dex", 58, "SE"), ("not_a_number.dex", 26, "PA2"),
])
def test_a_malformed_file_is_rejected_naming_line_and_segment(coffee_machine, fixture, line,
                                                              segment):
    with pytest.raises(AuditRejected) as caught:
        import_audit(machine=coffee_machine, text=fixture_text(fixture), source="device")
    assert caught.value.status == 400
    assert (caught.value.detail["line"], caught.value.detail["segment"]) == (line, segment)
    assert f"line {line}" in caught.value.detail["detail"]
    assert not AuditRecord.objects.exists()


def test_an_audit_of_another_serial_is_rejected(personas):
    with pytest.raises(AuditRejected) as caught:
        import_audit(machine=personas.machine, text=fixture_text("coffee_machine.dex"),
                     source="device")
    assert caught.value.status == 400 and caught.value.detail["serial"] == COFFEE_SERIAL
    assert not AuditRecord.objects.exists()
