"""Pure audit delta rules: the sales of a period from two cumulative audits, and their
reconciliation with the vend events the API saw.  No Django, no I/O.

Counters in an audit count since the board's initialization, so a period's sales are the
current audit minus the previous audit of the same machine.  Three cases break that:

- **counter reset** — one counter is lower than before (a partial memory clear, a replaced
  coin mech): the period's value for that counter is the new counter, never a negative,
  and the counter is named in ``PeriodSales.reset_counters``;
- **replaced controller board** — a different ``ID1`` serial or ``CB1`` board serial, or
  every counter that was positive is now lower: the new counters are another board's
  history, so the audit starts over as a baseline (no period sales) flagged
  ``BOARD_REPLACED``;
- **no previous audit** — the first audit of a machine is a baseline flagged
  ``FIRST_AUDIT``.

A counter absent from an audit (``None``) gives ``None``: "not reported" is not zero.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from sales.dex.model import Audit, CashlessCounters


class Flag(enum.StrEnum):
    FIRST_AUDIT = "first_audit"
    BOARD_REPLACED = "board_replaced"
    COUNTER_RESET = "counter_reset"


@dataclass(frozen=True, slots=True)
class SelectionSales:
    selection: str  # normalized: see normalize_selection
    vends: int | None
    value: int | None


@dataclass(frozen=True, slots=True)
class PeriodSales:
    """What a machine sold between two audits (all zero/empty for a baseline)."""

    machine_serial: str | None
    baseline: bool
    flags: frozenset[Flag]
    selections: tuple[SelectionSales, ...] = ()
    paid_vends: int | None = None  # VA102
    paid_value: int | None = None  # VA101
    test_vends: int | None = None
    free_vends: int | None = None
    cash_sales_value: int | None = None  # CA201
    cash_in: int | None = None  # CA305
    cash_to_box: int | None = None  # CA306
    cash_to_tubes: int | None = None  # CA307
    bills_in: int | None = None  # CA308
    dispensed: int | None = None  # CA403
    cashless_value: int | None = None  # sum of DA201/DB201
    cashless_vends: int | None = None  # sum of DA202/DB202
    reset_counters: tuple[str, ...] = ()  # e.g. ("paid_value", "selection A3 vends")


def normalize_selection(selection: str) -> str:
    """The same button however it is spelled: ``"010"`` and ``"10"`` are one selection."""
    selection = selection.strip()
    return (selection.lstrip("0") or "0") if selection.isdigit() else selection.upper()


def _cashless_sum(devices: tuple[CashlessCounters, ...], field: str) -> int | None:
    values = [getattr(d, field) for d in devices if getattr(d, field) is not None]
    return sum(values) if values else None


def _counters(audit: Audit) -> dict[str, int | None]:
    """The machine-level cumulative counters the delta rules compare, by name."""
    return {
        "paid_vends": audit.totals.paid_vends,
        "paid_value": audit.totals.paid_value,
        "test_vends": audit.totals.test_vends,
        "free_vends": audit.totals.free_vends,
        "cash_sales_value": audit.cash.cash_sales_value,
        "cash_in": audit.cash.cash_in,
        "cash_to_box": audit.cash.cash_to_box,
        "cash_to_tubes": audit.cash.cash_to_tubes,
        "bills_in": audit.cash.bills_in,
        "dispensed": audit.cash.dispensed,
        "cashless_value": _cashless_sum(audit.cashless, "sales_value"),
        "cashless_vends": _cashless_sum(audit.cashless, "sales_vends"),
    }


def _selection_counters(audit: Audit) -> dict[str, tuple[int | None, int | None]]:
    return {normalize_selection(s.selection): (s.vends, s.value) for s in audit.selections}


def _board_replaced(previous: Audit, current: Audit) -> bool:
    for field in ("machine_serial", "control_board_serial"):
        before, after = getattr(previous, field), getattr(current, field)
        if before and after and before != after:
            return True
    pairs = [
        (before, after)
        for before, after in zip(
            _counters(previous).values(), _counters(current).values(), strict=True
        )
        if before and after is not None  # only counters that were positive can drop
    ]
    return bool(pairs) and all(after < before for before, after in pairs)


def _delta(name: str, before: int | None, after: int | None, resets: list[str]) -> int | None:
    if after is None:
        return None
    if before is None:  # counter new in this audit: counted from zero
        return after
    if after < before:
        resets.append(name)
        return after
    return after - before


def period_sales(current: Audit, previous: Audit | None) -> PeriodSales:
    """The sales between ``previous`` and ``current`` audits of one machine."""
    if previous is None:
        return PeriodSales(current.machine_serial, True, frozenset({Flag.FIRST_AUDIT}))
    if _board_replaced(previous, current):
        return PeriodSales(current.machine_serial, True, frozenset({Flag.BOARD_REPLACED}))
    resets: list[str] = []
    before, after = _counters(previous), _counters(current)
    totals = {name: _delta(name, before[name], after[name], resets) for name in after}
    previous_selections = _selection_counters(previous)
    selections = []
    for selection, (vends, value) in _selection_counters(current).items():
        old_vends, old_value = previous_selections.get(selection, (None, None))
        selections.append(
            SelectionSales(
                selection,
                _delta(f"selection {selection} vends", old_vends, vends, resets),
                _delta(f"selection {selection} value", old_value, value, resets),
            )
        )
    return PeriodSales(
        current.machine_serial,
        False,
        frozenset({Flag.COUNTER_RESET}) if resets else frozenset(),
        selections=tuple(selections),
        reset_counters=tuple(resets),
        **totals,
    )


@dataclass(frozen=True, slots=True)
class VendTally:
    """Vends and their value for one selection, as the vend events reported them."""

    vends: int = 0
    value: int = 0


class _AuditMinusEvents:
    """The differences of a class with `audit_vends`, `event_vends`, `audit_value` and
    `event_value`: audit minus events, positive for vends the API never saw; None when the
    audit does not carry the counter."""

    __slots__ = ()
    audit_vends: int | None
    event_vends: int
    audit_value: int | None
    event_value: int

    @property
    def vends_difference(self) -> int | None:
        return None if self.audit_vends is None else self.audit_vends - self.event_vends

    @property
    def value_difference(self) -> int | None:
        return None if self.audit_value is None else self.audit_value - self.event_value


@dataclass(frozen=True, slots=True)
class SelectionDifference(_AuditMinusEvents):
    selection: str
    audit_vends: int | None
    event_vends: int
    audit_value: int | None
    event_value: int


@dataclass(frozen=True, slots=True)
class Reconciliation(_AuditMinusEvents):
    selections: tuple[SelectionDifference, ...]
    audit_vends: int | None
    event_vends: int
    audit_value: int | None
    event_value: int
    comparable: bool  # False for a baseline: there is no audited period to compare

    @property
    def matches(self) -> bool:
        return (
            self.comparable
            and all(
                d.vends_difference in (0, None) and d.value_difference in (0, None)
                for d in self.selections
            )
            and self.vends_difference in (0, None)
            and self.value_difference in (0, None)
        )


def reconcile(sales: PeriodSales, vend_events: Mapping[str, VendTally]) -> Reconciliation:
    """Audit period vs vend events of the same period, per selection and in total.

    ``vend_events`` maps a selection (any spelling) to its tally; selections on only one
    side appear with zeros on the other.  Totals compare the audit's paid vends/value
    (``VA1``) with the sum of all events.
    """
    events: dict[str, VendTally] = {}
    for selection, tally in vend_events.items():
        key = normalize_selection(selection)
        seen = events.get(key, VendTally())
        events[key] = VendTally(seen.vends + tally.vends, seen.value + tally.value)
    audited = {s.selection: s for s in sales.selections}
    differences = []
    for selection in sorted(audited.keys() | events.keys()):
        audit = audited.get(selection)
        tally = events.get(selection, VendTally())
        differences.append(
            SelectionDifference(
                selection,
                audit.vends if audit else 0,
                tally.vends,
                audit.value if audit else 0,
                tally.value,
            )
        )
    return Reconciliation(
        selections=tuple(differences),
        audit_vends=sales.paid_vends,
        event_vends=sum(t.vends for t in events.values()),
        audit_value=sales.paid_value,
        event_value=sum(t.value for t in events.values()),
        comparable=not sales.baseline,
    )
