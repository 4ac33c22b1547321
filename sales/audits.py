"""Import of a DEX/EVA-DTS audit: parse, check the serial, compute the period against the
machine's previous audit, reconcile it with the vend events of that period, store.

The pure parts are `sales.dex` (the file) and `sales.rules` (deltas, reconciliation); this
module only reads and writes rows around them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from machines.models import Machine
from sales import cash
from sales.dex import Audit, DexError, parse_dex
from sales.models import AuditRecord, AuditSource, Vend
from sales.rules import PeriodSales, Reconciliation, VendTally, period_sales, reconcile
from vendhub.fields import utc_iso8601

#: A readout clock further ahead of the upload than this is not believed (a machine whose
#: clock was never set): the upload time closes the period instead.
READ_AT_TOLERANCE = timedelta(minutes=10)


class AuditRejected(Exception):
    """An audit that is not stored: `detail` is the API's answer body, `status` its code."""

    def __init__(self, detail: dict, status: int = 400):
        super().__init__(detail.get("detail"))
        self.detail = detail
        self.status = status


@dataclass(frozen=True)
class ImportResult:
    record: AuditRecord
    created: bool


def period_document(sales: PeriodSales) -> dict:
    """`PeriodSales` as stored in `AuditRecord.period` (JSON, money in minor units)."""
    return {
        "baseline": sales.baseline,
        "flags": sorted(str(flag) for flag in sales.flags),
        "machineSerial": sales.machine_serial,
        "selections": [{"selection": s.selection, "vends": s.vends, "value": s.value}
                       for s in sales.selections],
        "totals": {"paidVends": sales.paid_vends, "paidValue": sales.paid_value,
                   "testVends": sales.test_vends, "freeVends": sales.free_vends},
        "cash": {"salesValue": sales.cash_sales_value, "cashIn": sales.cash_in,
                 "toBox": sales.cash_to_box, "toTubes": sales.cash_to_tubes,
                 "billsIn": sales.bills_in, "dispensed": sales.dispensed},
        "cashless": {"value": sales.cashless_value, "vends": sales.cashless_vends},
        "resetCounters": list(sales.reset_counters),
    }


def reconciliation_document(result: Reconciliation) -> dict:
    """`Reconciliation` as stored in `AuditRecord.reconciliation` (audit minus events)."""
    def figures(item) -> dict:
        return {"auditVends": item.audit_vends, "eventVends": item.event_vends,
                "vendsDifference": item.vends_difference, "auditValue": item.audit_value,
                "eventValue": item.event_value, "valueDifference": item.value_difference}

    return {"comparable": result.comparable, "matches": result.matches, **figures(result),
            "selections": [{"selection": d.selection, **figures(d)} for d in result.selections]}


def _vend_tallies(machine: Machine, start: datetime | None, end: datetime) -> dict:
    vends = Vend.objects.filter(machine=machine, timestamp__lte=end)
    if start is not None:
        vends = vends.filter(timestamp__gt=start)
    rows = vends.values("selection").annotate(n=Count("id"), value=Sum("price"))
    return {row["selection"]: VendTally(row["n"], row["value"] or 0) for row in rows}


def _audited_at(read_at: datetime | None, now: datetime) -> datetime:
    return read_at if read_at is not None and read_at <= now + READ_AT_TOLERANCE else now


def _close_period(machine: Machine, audit: Audit, audited_at: datetime,
                  previous: AuditRecord | None,
                  previous_audit: Audit | None) -> tuple[dict, dict]:
    """The period and reconciliation documents of `audit` read after `previous`."""
    sales = period_sales(audit, previous_audit)
    tallies = _vend_tallies(machine, previous.audited_at if previous else None, audited_at)
    return period_document(sales), reconciliation_document(reconcile(sales, tallies))


def _reopen_following(record: AuditRecord, audit: Audit) -> None:
    """An audit read before the machine's latest one arrived late (a readout kept on a
    handheld, a device retrying): counters are cumulative, so the audit after it now closes
    a shorter period that starts here. Recompute that one audit against `record` (the rest
    of the chain does not change)."""
    following = (AuditRecord.objects.filter(machine_id=record.machine_id,
                                            audited_at__gt=record.audited_at)
                 .order_by("audited_at", "uploaded_at").first())
    if following is None:
        return
    following.previous = record
    following.period, following.reconciliation = _close_period(
        record.machine, parse_dex(following.raw_text), following.audited_at, record, audit)
    following.save(update_fields=["previous", "period", "reconciliation", "updated_at"])


def import_audit(*, machine: Machine, text: str, source: str = AuditSource.DEVICE,
                 now: datetime | None = None) -> ImportResult:
    """Store one audit of `machine`; the same file sent again returns the existing record
    (`created=False`). Raises `AuditRejected` (nothing stored) for an unreadable file or one
    whose `ID1` serial is not the machine's."""
    now = now or timezone.now()
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    existing = AuditRecord.objects.filter(machine=machine, raw_sha256=digest).first()
    if existing is not None:
        return ImportResult(existing, False)
    try:
        audit = parse_dex(text)
    except DexError as exc:
        raise AuditRejected({
            "detail": _("The audit cannot be read: %(error)s") % {"error": exc},
            "line": exc.line, "segment": exc.segment}) from exc
    serial = (audit.machine_serial or "").strip()
    if serial and serial != machine.serial_number:
        other = Machine.objects.filter(organization_id=machine.organization_id,
                                       serial_number=serial).exists()
        raise AuditRejected({
            "detail": _("The audit is of machine %(audit)s, not of this machine "
                        "(%(machine)s).") % {"audit": serial, "machine": machine.serial_number},
            "serial": serial}, status=403 if other else 400)
    read_at = audit.read_at
    if read_at is not None:
        read_at = timezone.make_aware(read_at, ZoneInfo(machine.organization.time_zone))
    audited_at = _audited_at(read_at, now)
    try:
        with transaction.atomic():
            # One import per machine at a time: the previous audit must not move under us.
            Machine.objects.select_for_update().filter(pk=machine.pk).first()
            previous = (AuditRecord.objects.filter(machine=machine, audited_at__lte=audited_at)
                        .order_by("-audited_at", "-uploaded_at").first())
            previous_audit = parse_dex(previous.raw_text) if previous is not None else None
            period, reconciliation = _close_period(machine, audit, audited_at,
                                                   previous, previous_audit)
            record = AuditRecord.objects.create(
                machine=machine, uploaded_at=now, read_at=read_at, audited_at=audited_at,
                raw_text=text, raw_sha256=digest, machine_serial=serial, source=source,
                previous=previous, period=period, reconciliation=reconciliation)
            _reopen_following(record, audit)
    except IntegrityError:  # the same file, imported concurrently: theirs stands
        return ImportResult(AuditRecord.objects.get(machine=machine, raw_sha256=digest), False)
    # Committed: an audit may say the cash box holds more than the vends did.
    cash.check_collection_due(machine=machine)
    return ImportResult(record, True)


def audit_document(record: AuditRecord) -> dict:
    """The API's view of one audit record."""
    return {
        "id": str(record.pk),
        "machineId": str(record.machine_id),
        "source": record.source,
        "machineSerial": record.machine_serial or None,
        "uploadedAt": utc_iso8601(record.uploaded_at),
        "readAt": utc_iso8601(record.read_at) if record.read_at else None,
        "periodFrom": utc_iso8601(record.previous.audited_at) if record.previous_id else None,
        "periodTo": utc_iso8601(record.audited_at),
        "previousId": str(record.previous_id) if record.previous_id else None,
        "flags": record.period.get("flags", []),
        "totals": record.period.get("totals", {}),
        "period": record.period,
        "reconciliation": record.reconciliation,
    }
