"""An audit older than the machine's latest one is put in its place: the audit after it is
recomputed against it, so uploads in any order give the periods of the in-order chain."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from sales.audits import import_audit
from sales.ingest import ingest_vends
from sales.models import AuditRecord
from sales.vends import VendIn
from tests.sales.conftest import coffee_audit
from tests.sales.dexwriter import write_dex

pytestmark = pytest.mark.django_db


def replaced_board(text: str) -> str:
    """The same audit read from another controller board (a different CB1 serial)."""
    lines = text.splitlines()
    data = lines[lines.index("ST*001*0001") + 1:-3]  # without ST, G85, SE, DXE
    return write_dex([line.replace("CB1*CF2206A0113*", "CB1*CF2301B0999*") for line in data])


def three_audits(machine, sold: list[dict[str, int]], *, board_replaced_at: int | None = None):
    """Audits read 3 h, 2 h and 1 h ago with cumulative `sold` counters, and a vend of
    selection 3 between each pair, so every period has something to reconcile."""
    now = timezone.now()
    tz = machine.organization.time_zone
    times = [now - timedelta(hours=3 - i) for i in range(3)]
    ingest_vends(machine=machine, vends=[
        VendIn(f"t-{i}", "3", 14000, "cash", "", at - timedelta(minutes=30))
        for i, at in enumerate(times)])
    texts = [coffee_audit(read_at=at, time_zone=tz, sold=counts)
             for at, counts in zip(times, sold, strict=True)]
    if board_replaced_at is not None:
        texts[board_replaced_at] = replaced_board(texts[board_replaced_at])
    return now, texts


def upload(machine, now, texts: list[str], order: tuple[int, ...]) -> list[dict]:
    """Import `texts` in `order`; the chain oldest first as comparable documents."""
    AuditRecord.objects.all().delete()
    for step, index in enumerate(order):
        import_audit(machine=machine, text=texts[index], source="device",
                     now=now + timedelta(seconds=step))
    records = list(AuditRecord.objects.filter(machine=machine).select_related("previous")
                   .order_by("audited_at"))
    return [{"auditedAt": r.audited_at,
             "previous": r.previous.audited_at if r.previous else None,
             "period": r.period, "reconciliation": r.reconciliation} for r in records]


def test_audits_uploaded_1_3_2_give_the_periods_of_1_2_3(coffee_machine):
    now, texts = three_audits(coffee_machine, [{}, {"3": 1}, {"3": 2}])
    in_order = upload(coffee_machine, now, texts, (0, 1, 2))
    late = upload(coffee_machine, now, texts, (0, 2, 1))
    assert late == in_order
    assert [c["period"]["totals"]["paidVends"] for c in in_order] == [None, 1, 1]
    assert [c["previous"] for c in in_order] == [None, in_order[0]["auditedAt"],
                                                 in_order[1]["auditedAt"]]
    assert all(c["reconciliation"]["matches"] for c in in_order[1:])


def test_an_audit_older_than_every_other_becomes_the_baseline(coffee_machine):
    now, texts = three_audits(coffee_machine, [{}, {"3": 1}, {"3": 3}])
    in_order = upload(coffee_machine, now, texts, (0, 1, 2))
    assert upload(coffee_machine, now, texts, (2, 1, 0)) == in_order
    assert in_order[0]["period"]["flags"] == ["first_audit"]


def test_a_counter_reset_is_still_flagged_when_the_audit_before_it_arrives_late(coffee_machine):
    # The third audit's counters are lower than the second's: its period counts from zero.
    now, texts = three_audits(coffee_machine, [{}, {"3": 4}, {"3": 1}])
    in_order = upload(coffee_machine, now, texts, (0, 1, 2))
    late = upload(coffee_machine, now, texts, (0, 2, 1))
    assert late == in_order
    last = late[2]["period"]
    assert last["flags"] == ["counter_reset"] and "paid_vends" in last["resetCounters"]


def test_a_replaced_board_is_still_a_baseline_when_the_audit_before_it_arrives_late(
        coffee_machine):
    now, texts = three_audits(coffee_machine, [{}, {"3": 1}, {"3": 3}], board_replaced_at=2)
    in_order = upload(coffee_machine, now, texts, (0, 1, 2))
    late = upload(coffee_machine, now, texts, (0, 2, 1))
    assert late == in_order
    assert late[2]["period"]["flags"] == ["board_replaced"] and late[2]["period"]["baseline"]
    assert late[1]["period"]["totals"]["paidVends"] == 1


def test_a_late_audit_after_the_latest_changes_nothing_before_it(coffee_machine):
    now, texts = three_audits(coffee_machine, [{}, {"3": 1}, {"3": 3}])
    upload(coffee_machine, now, texts, (0, 1))
    before = AuditRecord.objects.get(previous__isnull=False)
    import_audit(machine=coffee_machine, text=texts[2], source="device", now=now)
    after = AuditRecord.objects.get(pk=before.pk)
    assert (after.period, after.updated_at) == (before.period, before.updated_at)
