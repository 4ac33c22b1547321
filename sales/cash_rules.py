"""Pure cash rules: how much cash a machine's box holds since its last collection, and
when that calls for a collection task. No Django, no I/O (`sales.cash` reads the rows).

Two sources say how much cash went into the box:

- **cash vends**: the prices of the vends paid in cash since the collection. Always there,
  but a vend the device never reported (offline, a lost batch) is missing, and a price is
  what the sale cost, not the coins that went to the box (some go to the change tubes,
  which stay in the machine, and change is paid out of them);
- **audits**: an audit's period holds the coin mechanism's and bill validator's own
  counter of the value that went to the cash box (`CA306`, bills included: `CA305` cash in
  = `CA306` to the box + `CA307` to the tubes). That is the money an operator finds,
  whatever the events missed.

So the audit is preferred wherever it covers the time since the collection: the estimate
is the cash vends between the collection and the start of the audited span, plus the
audits' cash to the box over the span, plus the cash vends after its end. An audit covers
only when its period starts at the collection (an audit read at the collection, moments
before it was recorded, counts: `COLLECTION_AUDIT_TOLERANCE`) or at the end of another
covering audit; a baseline audit (the first, a replaced board) or one without the
`CA306` counter ends the span. Without a covering audit the estimate is the cash vends.
Both figures are kept, so a difference between them is visible, not hidden.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

#: An audit read at the collection may be stored a little before the collection is
#: recorded (the operator reads the machine, counts, then records): its successor's period
#: still starts at the collection.
COLLECTION_AUDIT_TOLERANCE = timedelta(minutes=30)

VENDS = "vends"
AUDIT = "audit"


@dataclass(frozen=True, slots=True)
class AuditCash:
    """What the estimate needs of one audit record."""

    record_id: object
    previous_id: object | None
    period_from: datetime | None  # the previous audit's time; None for a baseline
    period_to: datetime
    to_box: int | None  # CA306 over the period; None when the audit does not carry it
    baseline: bool


@dataclass(frozen=True, slots=True)
class AuditSpan:
    """Consecutive audits covering time since a collection, and their cash to the box."""

    start: datetime
    end: datetime
    to_box: int
    audits: int


def covering_span(audits: Sequence[AuditCash], since: datetime | None) -> AuditSpan | None:
    """The audits that cover the time from `since` (the last collection) on, chained by
    their `previous`; None when none does (never collected: no audit starts there)."""
    if since is None:
        return None
    chain: list[AuditCash] = []
    for audit in sorted(audits, key=lambda a: a.period_to):
        if audit.baseline or audit.to_box is None or audit.period_from is None:
            if chain:
                break
            continue
        if chain:
            if audit.previous_id != chain[-1].record_id:
                break  # uploaded out of order: the span ends where the chain breaks
        elif audit.period_from < since - COLLECTION_AUDIT_TOLERANCE:
            continue  # its period began before the collection: it counts older cash
        chain.append(audit)
    if not chain:
        return None
    return AuditSpan(start=chain[0].period_from, end=chain[-1].period_to,
                     to_box=sum(a.to_box for a in chain), audits=len(chain))


@dataclass(frozen=True, slots=True)
class CashEstimate:
    """The cash in a machine's box since `since` (None: since its first vend)."""

    since: datetime | None
    expected: int
    source: str  # VENDS or AUDIT
    vend_cash: int  # cash vends since `since`
    audit_cash: int | None  # the audited span's cash to the box, None without one
    audited_from: datetime | None
    audited_to: datetime | None


def estimate(*, since: datetime | None, vend_cash: int, span: AuditSpan | None = None,
             vend_cash_before_span: int = 0, vend_cash_after_span: int = 0) -> CashEstimate:
    """The expected cash: audited where an audit covers, cash vends elsewhere (above).

    `vend_cash_before_span` and `vend_cash_after_span` are the cash vends between `since`
    and the span's start, and after its end."""
    if span is None:
        return CashEstimate(since, vend_cash, VENDS, vend_cash, None, None, None)
    expected = vend_cash_before_span + span.to_box + vend_cash_after_span
    return CashEstimate(since, expected, AUDIT, vend_cash, span.to_box, span.start, span.end)


def collection_due(*, expected: int, threshold: int, task_open: bool) -> bool:
    """Whether to open a cash-collection task: the estimate reached the organization's
    threshold (0: never) and no collection task of the machine is open yet."""
    return threshold > 0 and not task_open and expected >= threshold
