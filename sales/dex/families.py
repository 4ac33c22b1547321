"""Segment families of an audit's transaction set, mapped to the model's fields.

Element meanings follow EVA-DTS 6.1/6.2 (the "DEX/UCS Programmer's Guide" and "DEX Spec
EVA-DTS 6.2" published with lanmark7/dex-utility, whose ``dex_comm_thread.c`` lists the
element names used below, e.g. ``CA305 value of cash in since initialization``).
Segments read: ID1, ID4, CB1, VA1-VA3, CA1-CA4, CA8, CA10, CA15, CA16, DA1/DB1, DA2/DB2,
DA4/DB4, DA5/DB5, DA10/DB10, PA1-PA4, EA1-EA3, MA5.  Recognised and deliberately not
mapped (their figures are diagnostic, not sales): CA5-CA7, CA9, CA11-CA14, CA17, DA3,
DA6-DA9, PA5-PA8, EA4-EA7, LS/LE loop markers.  Anything else (TA*, BA*, vendor
segments) is kept in ``Audit.unknown_segments``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sales.dex.elements import date_time, flag, number, text
from sales.dex.model import (
    Audit,
    CashCounters,
    CashlessCounters,
    DexError,
    Event,
    Segment,
    SelectionCounters,
    Totals,
)

_RECOGNISED_UNMAPPED = frozenset(
    {"CA5", "CA6", "CA7", "CA9", "CA11", "CA12", "CA13", "CA14", "CA17"}
    | {f"{dev}{n}" for dev in ("DA", "DB") for n in (3, 6, 7, 8, 9)}
    | {"PA5", "PA6", "PA7", "PA8", "EA4", "EA5", "EA6", "EA7", "LS", "LE"}
)


def _numbers(seg: Segment, **fields: int) -> dict[str, int | None]:
    return {name: number(seg, index) for name, index in fields.items()}


class _Builder:
    """Accumulates one transaction set's segments into an ``Audit``."""

    def __init__(self) -> None:
        self.audit: dict[str, Any] = {"machine_serial": None}
        self.seen_id1 = False
        self.totals: dict[str, int | None] = {}
        self.cash: dict[str, Any] = {}
        self.tubes: list[int] = []
        self.cashless: dict[str, dict[str, Any]] = {}
        self.selections: list[SelectionCounters] = []
        self.events: list[Event] = []
        self.machine_fields: list[tuple[str, ...]] = []
        self.unknown: list[Segment] = []

    def add(self, seg: Segment) -> None:
        tag = seg.tag
        handler = getattr(self, f"_{tag.lower()}", None)
        if handler is not None:
            handler(seg)
        elif tag[:2] in ("DA", "DB") and tag[2:].isdigit() and tag not in _RECOGNISED_UNMAPPED:
            self._cashless(seg)
        elif tag not in _RECOGNISED_UNMAPPED:
            self.unknown.append(seg)

    # -- identification ------------------------------------------------------------------
    def _id1(self, seg: Segment) -> None:
        if self.seen_id1:
            raise DexError("a second ID1 in one transaction set", line=seg.line, segment=seg.tag)
        self.seen_id1 = True
        self.audit.update(
            machine_serial=text(seg, 1),
            machine_model=text(seg, 2),
            build_standard=text(seg, 3),
            location=text(seg, 4),
            asset_number=text(seg, 6),
        )

    def _id4(self, seg: Segment) -> None:
        self.audit.update(decimal_places=number(seg, 1), currency=text(seg, 2))

    def _cb1(self, seg: Segment) -> None:
        self.audit["control_board_serial"] = text(seg, 1)

    # -- totals ----------------------------------------------------------------------------
    def _va1(self, seg: Segment) -> None:
        self.totals.update(
            _numbers(
                seg,
                paid_value=1,
                paid_vends=2,
                paid_value_since_reset=3,
                paid_vends_since_reset=4,
                discounts_value=5,
            )
        )

    def _va2(self, seg: Segment) -> None:
        self.totals.update(_numbers(seg, test_value=1, test_vends=2))

    def _va3(self, seg: Segment) -> None:
        self.totals.update(_numbers(seg, free_value=1, free_vends=2))

    # -- cash ------------------------------------------------------------------------------
    def _ca1(self, seg: Segment) -> None:
        self.cash.update(coin_mech_serial=text(seg, 1), coin_mech_model=text(seg, 2))

    def _ca2(self, seg: Segment) -> None:
        self.cash.update(_numbers(seg, cash_sales_value=1, cash_sales_vends=2))

    def _ca3(self, seg: Segment) -> None:
        self.cash.update(
            _numbers(
                seg,
                cash_in_since_reset=1,
                cash_to_box_since_reset=2,
                cash_to_tubes_since_reset=3,
                bills_in_since_reset=4,
                cash_in=5,
                cash_to_box=6,
                cash_to_tubes=7,
                bills_in=8,
            )
        )

    def _ca4(self, seg: Segment) -> None:
        self.cash.update(_numbers(seg, dispensed_since_reset=1, dispensed=3, manually_dispensed=4))

    def _ca8(self, seg: Segment) -> None:
        self.cash["overpay"] = number(seg, 2)

    def _ca10(self, seg: Segment) -> None:
        self.cash["cash_filled"] = number(seg, 2)

    def _ca15(self, seg: Segment) -> None:
        value = number(seg, 1)
        if value is not None:
            self.tubes.append(value)

    def _ca16(self, seg: Segment) -> None:
        self.cash["credited"] = number(seg, 2)

    # -- cashless (DA = device 1, DB = device 2, same layout) ------------------------------
    def _cashless(self, seg: Segment) -> None:
        device, kind = seg.tag[:2], seg.tag[2:]
        fields = self.cashless.setdefault(device, {})
        if kind == "1":
            fields.update(serial=text(seg, 1), model=text(seg, 2))
        elif kind == "2":
            fields.update(
                _numbers(
                    seg,
                    sales_value=1,
                    sales_vends=2,
                    sales_value_since_reset=3,
                    sales_vends_since_reset=4,
                )
            )
        elif kind == "4":
            fields["credited"] = number(seg, 1)
        elif kind == "5":
            fields["discounts_value"] = number(seg, 3)
        elif kind == "10":
            fields.update(_numbers(seg, mixed_vends=1, mixed_value=2))
        else:
            self.unknown.append(seg)

    # -- selections ------------------------------------------------------------------------
    def _pa1(self, seg: Segment) -> None:
        selection = text(seg, 1)
        if selection is None:
            raise DexError("expected a selection in element 1", line=seg.line, segment=seg.tag)
        self.selections.append(
            SelectionCounters(selection=selection, price=number(seg, 2), product_id=text(seg, 3))
        )

    def _current_selection(self, seg: Segment) -> SelectionCounters:
        if not self.selections:
            raise DexError("no PA1 before it names the selection", line=seg.line, segment=seg.tag)
        return self.selections[-1]

    def _pa2(self, seg: Segment) -> None:
        counters = _numbers(seg, vends=1, value=2, vends_since_reset=3, value_since_reset=4)
        self.selections[-1] = replace(self._current_selection(seg), **counters)

    def _pa3(self, seg: Segment) -> None:
        self.selections[-1] = replace(self._current_selection(seg), test_vends=number(seg, 1))

    def _pa4(self, seg: Segment) -> None:
        self.selections[-1] = replace(self._current_selection(seg), free_vends=number(seg, 1))

    # -- events and machine fields -----------------------------------------------------------
    def _ea1(self, seg: Segment) -> None:
        code = text(seg, 1)
        if code is not None:  # "EA1******" is a placeholder some machines always send
            self.events.append(Event("EA1", code, occurred_at=date_time(seg, 2, 3)))

    def _ea2(self, seg: Segment) -> None:
        code = text(seg, 1)
        if code is not None:
            self.events.append(
                Event(
                    "EA2",
                    code,
                    count_since_reset=number(seg, 2),
                    count_since_init=number(seg, 3),
                    active=flag(seg, 5),
                )
            )

    def _ea3(self, seg: Segment) -> None:
        self.audit["read_at"] = date_time(seg, 2, 3)

    def _ma5(self, seg: Segment) -> None:
        self.machine_fields.append(tuple(e.strip() for e in seg.elements))

    def build(self, **envelope: Any) -> Audit:
        cash = dict(self.cash)
        if self.tubes:
            cash["tube_contents"] = sum(self.tubes)
        return Audit(
            **self.audit,
            **envelope,
            totals=Totals(**self.totals),
            cash=CashCounters(**cash),
            cashless=tuple(
                CashlessCounters(device=device, **fields)
                for device, fields in sorted(self.cashless.items())
            ),
            selections=tuple(self.selections),
            events=tuple(self.events),
            machine_fields=tuple(self.machine_fields),
            unknown_segments=tuple(self.unknown),
        )


def build_audit(segments: list[Segment], **envelope: Any) -> Audit:
    """The ``Audit`` of one transaction set's inner segments (between ``ST`` and ``G85``).

    ``ID1`` is mandatory (EVA-DTS requires it, and an audit nobody can attribute to a
    machine is useless); every other segment is optional.
    """
    builder = _Builder()
    for seg in segments:
        builder.add(seg)
    if not builder.seen_id1:
        line = segments[0].line if segments else None
        raise DexError("missing: the transaction set has no ID1", line=line, segment="ID1")
    return builder.build(**envelope)
