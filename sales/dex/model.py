"""Values produced by the DEX/EVA-DTS parser: frozen, typed, free of Django.

Money counters are integers in the currency's minor unit as the machine reports them
(``ID4`` element 1 gives the decimal point position; UZS machines report 0).  A counter the
file does not carry is ``None``, never 0: "not reported" and "nothing sold" differ when the
delta rules compare two audits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


class DexError(ValueError):
    """A DEX file that cannot be read, naming where: ``line 14, segment PA2: ...``.

    ``line`` is the 1-based physical line of the file (blank lines count), ``segment`` the
    segment tag (``PA2``) or ``None`` when the line is not a segment at all.
    """

    def __init__(self, message: str, *, line: int | None = None, segment: str | None = None):
        self.line = line
        self.segment = segment
        self.reason = message
        where = []
        if line is not None:
            where.append(f"line {line}")
        if segment:
            where.append(f"segment {segment}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment as read: its tag, its elements after the tag, and where it was."""

    line: int
    tag: str
    elements: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Totals:
    """``VA1``–``VA3``: all paid vends, test vends, free vends (value and count)."""

    paid_value: int | None = None  # VA101, since initialization
    paid_vends: int | None = None  # VA102
    paid_value_since_reset: int | None = None  # VA103
    paid_vends_since_reset: int | None = None  # VA104
    discounts_value: int | None = None  # VA105
    test_value: int | None = None  # VA201
    test_vends: int | None = None  # VA202
    free_value: int | None = None  # VA301
    free_vends: int | None = None  # VA302


@dataclass(frozen=True, slots=True)
class CashCounters:
    """``CA1``–``CA17`` (coin mechanism, bills, cash box, tubes), since initialization
    unless the name says ``since_reset``."""

    coin_mech_serial: str | None = None  # CA101
    coin_mech_model: str | None = None  # CA102
    cash_sales_value: int | None = None  # CA201
    cash_sales_vends: int | None = None  # CA202
    cash_in: int | None = None  # CA305
    cash_to_box: int | None = None  # CA306
    cash_to_tubes: int | None = None  # CA307
    bills_in: int | None = None  # CA308
    cash_in_since_reset: int | None = None  # CA301
    cash_to_box_since_reset: int | None = None  # CA302
    cash_to_tubes_since_reset: int | None = None  # CA303
    bills_in_since_reset: int | None = None  # CA304
    dispensed: int | None = None  # CA403
    manually_dispensed: int | None = None  # CA404
    dispensed_since_reset: int | None = None  # CA401
    overpay: int | None = None  # CA802
    cash_filled: int | None = None  # CA1002
    tube_contents: int | None = None  # sum of CA1501 over the CA15 tube segments
    credited: int | None = None  # CA1602


@dataclass(frozen=True, slots=True)
class CashlessCounters:
    """One cashless device: ``DA1``–``DA10`` (device 1) or ``DB1``–``DB10`` (device 2)."""

    device: str  # "DA" or "DB"
    serial: str | None = None  # xA101
    model: str | None = None  # xA102
    sales_value: int | None = None  # xA201, since initialization
    sales_vends: int | None = None  # xA202
    sales_value_since_reset: int | None = None  # xA203
    sales_vends_since_reset: int | None = None  # xA204
    credited: int | None = None  # xA401, value credited to the card
    discounts_value: int | None = None  # xA503
    mixed_vends: int | None = None  # xA1001
    mixed_value: int | None = None  # xA1002


@dataclass(frozen=True, slots=True)
class SelectionCounters:
    """One selection (button/slot): ``PA1`` then its ``PA2``–``PA4``."""

    selection: str  # PA101, as the machine spells it ("010" stays "010")
    price: int | None = None  # PA102
    product_id: str | None = None  # PA103
    vends: int | None = None  # PA201, paid vends since initialization
    value: int | None = None  # PA202
    vends_since_reset: int | None = None  # PA203
    value_since_reset: int | None = None  # PA204
    test_vends: int | None = None  # PA301
    free_vends: int | None = None  # PA401


@dataclass(frozen=True, slots=True)
class Event:
    """``EA1`` (an occurrence with its time) or ``EA2`` (an event type's counters)."""

    segment: str  # "EA1" or "EA2"
    code: str  # EA101/EA201, e.g. "EGS" door open, "EJJ" not cooling
    occurred_at: datetime | None = None  # EA102+EA103
    count_since_reset: int | None = None  # EA202
    count_since_init: int | None = None  # EA203
    active: bool | None = None  # EA205


@dataclass(frozen=True, slots=True)
class Audit:
    """One parsed audit (one ``ST``…``SE`` transaction set). The raw text is the caller's."""

    machine_serial: str | None
    machine_model: str | None = None  # ID102
    build_standard: str | None = None  # ID103
    location: str | None = None  # ID104
    asset_number: str | None = None  # ID106
    control_board_serial: str | None = None  # CB101
    communication_id: str | None = None  # DXS01
    version: str | None = None  # DXS03, e.g. "V0/6", "V1/1"
    decimal_places: int | None = None  # ID401
    currency: str | None = None  # ID402 (numeric ISO 4217, "860" for UZS)
    read_at: datetime | None = None  # EA302+EA303, the readout's own clock
    totals: Totals = Totals()
    cash: CashCounters = CashCounters()
    cashless: tuple[CashlessCounters, ...] = ()
    selections: tuple[SelectionCounters, ...] = ()
    events: tuple[Event, ...] = ()
    machine_fields: tuple[tuple[str, ...], ...] = ()  # MA5 elements, vendor-defined
    crc_checked: bool = False  # a G85 was present and matched
    unknown_segments: tuple[Segment, ...] = ()  # kept for the caller, never fatal
