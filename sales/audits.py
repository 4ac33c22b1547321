"""Import of a DEX/EVA-DTS audit: parse, check the serial, compute the period against the
machine's previous audit, reconcile it with the vend events of that period, store.

The pure parts are `sales.dex` (the file) and `sales.rules` (deltas, reconciliation); this
module only reads and writes rows around them.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import IntegrityError, connection, transaction
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
    """The machine's vends in (start, end] per selection: one indexed GROUP BY, in SQL of
    our own (the ORM's compilation of it cost more CPU than the query)."""
    qn, ops = connection.ops.quote_name, connection.ops
    sql = (f"SELECT {qn('selection')}, COUNT(*), SUM({qn('price')}) "
           f"FROM {qn(Vend._meta.db_table)} WHERE {qn('machine_id')} = %s "
           f"AND {qn('timestamp')} <= %s")
    params = [_machine_param(machine), ops.adapt_datetimefield_value(end)]
    if start is not None:
        sql += f" AND {qn('timestamp')} > %s"
        params.append(ops.adapt_datetimefield_value(start))
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} GROUP BY {qn('selection')}", params)
        # SUM of a bigint column is a numeric in PostgreSQL: back to a whole number.
        return {selection: VendTally(n, int(value or 0)) for selection, n, value in cursor}


def _machine_param(machine: Machine):
    return AuditRecord._meta.get_field("machine").get_db_prep_value(machine.pk, connection)


def _neighbours(machine: Machine,
                audited_at: datetime) -> tuple[AuditRecord | None, AuditRecord | None]:
    """The machine's audits just before (or at) `audited_at` and just after it, in one
    query, with only what the chain needs (counters and times: not the stored JSON)."""
    qn = connection.ops.quote_name
    columns = ", ".join(qn(c) for c in ("id", "machine_id", "audited_at", "raw_text"))
    table, at, up = qn(AuditRecord._meta.db_table), qn("audited_at"), qn("uploaded_at")
    machine_id = qn("machine_id")
    sql = (f"SELECT * FROM (SELECT {columns}, 0 AS side FROM {table} WHERE {machine_id} = %s "
           f"AND {at} <= %s ORDER BY {at} DESC, {up} DESC LIMIT 1) AS previous_audit "
           f"UNION ALL "
           f"SELECT * FROM (SELECT {columns}, 1 AS side FROM {table} WHERE {machine_id} = %s "
           f"AND {at} > %s ORDER BY {at}, {up} LIMIT 1) AS following_audit")
    when = connection.ops.adapt_datetimefield_value(audited_at)
    key = _machine_param(machine)
    found = {r.side: r for r in AuditRecord.objects.raw(sql, [key, when, key, when])}
    return found.get(0), found.get(1)


#: Texts longer than this are parsed every time: the cache holds its keys, and 512 files of
#: the 1 MB a request may carry would pin half a gigabyte. Real audits are a few kilobytes.
_CACHED_TEXT_LIMIT = 32 * 1024


def _parsed(text: str) -> Audit:
    """`parse_dex` of an audit, remembered: an import reads the machine's previous audit,
    which is most often the one this process imported last for that machine (512: the
    latest audit of a fleet of hundreds). `Audit` is frozen: sharing it is safe."""
    return parse_dex(text) if len(text) > _CACHED_TEXT_LIMIT else _parsed_cached(text)


@functools.lru_cache(maxsize=512)
def _parsed_cached(text: str) -> Audit:
    return parse_dex(text)


def _audited_at(read_at: datetime | None, now: datetime) -> datetime:
    return read_at if read_at is not None and read_at <= now + READ_AT_TOLERANCE else now


def _close_period(machine: Machine, audit: Audit, audited_at: datetime,
                  previous: AuditRecord | None,
                  previous_audit: Audit | None) -> tuple[dict, dict]:
    """The period and reconciliation documents of `audit` read after `previous`."""
    sales = period_sales(audit, previous_audit)
    tallies = _vend_tallies(machine, previous.audited_at if previous else None, audited_at)
    return period_document(sales), reconciliation_document(reconcile(sales, tallies))


def _reopen_following(following: AuditRecord | None, record: AuditRecord,
                      audit: Audit) -> None:
    """An audit read before the machine's latest one arrived late (a readout kept on a
    handheld, a device retrying): counters are cumulative, so the audit after it now closes
    a shorter period that starts here. Recompute that one audit against `record` (the rest
    of the chain does not change)."""
    if following is None:
        return
    following.previous = record
    following.period, following.reconciliation = _close_period(
        record.machine, _parsed(following.raw_text), following.audited_at, record, audit)
    following.save(update_fields=["previous", "period", "reconciliation", "updated_at"])


def import_audit(*, machine: Machine, text: str, source: str = AuditSource.DEVICE,
                 now: datetime | None = None) -> ImportResult:
    """Store one audit of `machine`; the same file sent again returns the existing record
    (`created=False`). Raises `AuditRejected` (nothing stored) for an unreadable file or one
    whose `ID1` serial is not the machine's."""
    now = now or timezone.now()
    # A re-sent file is found by the unique (machine, digest) constraint at the insert below,
    # not by a query first: re-sends are rare, and that query cost every new audit a
    # round trip.
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    try:
        audit = _parsed(text)
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
            list(Machine.objects.select_for_update().filter(pk=machine.pk).values_list("pk"))
            previous, following = _neighbours(machine, audited_at)
            previous_audit = _parsed(previous.raw_text) if previous is not None else None
            period, reconciliation = _close_period(machine, audit, audited_at,
                                                   previous, previous_audit)
            record = AuditRecord.objects.create(
                machine=machine, uploaded_at=now, read_at=read_at, audited_at=audited_at,
                raw_text=text, raw_sha256=digest, machine_serial=serial, source=source,
                previous=previous, period=period, reconciliation=reconciliation)
            _reopen_following(following, record, audit)
    except IntegrityError:  # the same file again (or imported concurrently): it stands
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
