"""The DEX/UCS and EVA-DTS audit writer: the inverse of ``sales.dex.parser``. Pure.

``write_audit(audit)`` writes an ``Audit`` (the parser's own model, cumulative counters as a
machine keeps them) as the segments the parser reads: ``ID1``, ``ID4``, ``CB1``,
``VA1``–``VA3``, ``CA1``–``CA4``, ``CA8``, ``CA10``, ``CA15``, ``CA16``, ``DA``/``DB`` 1, 2,
4, 5, 10, ``PA1``–``PA4`` per selection, ``EA1``/``EA2``/``EA3``, ``MA5``; ``write_dex``
frames data segments with ``DXS``, ``ST``, the ``G85`` CRC, the ``SE`` segment count and
``DXE``.  ``parse_dex(write_audit(a))`` gives ``a`` back (the envelope fields aside), which
the tests hold it to.

A counter that is ``None`` is left out (an empty element, or no segment when all of a
segment's elements are empty): "not reported" stays distinct from 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sales.dex.crc import crc16_arc
from sales.dex.model import Audit, CashlessCounters, Event, SelectionCounters

#: What DEX cannot carry inside an element: the separators and the line ends.
_FORBIDDEN = frozenset("*\r\n")


def write_dex(
    data_segments: list[str],
    *,
    communication_id: str = "VHB0000001",
    version: str = "V1/1",
    line_end: str = "\r\n",
    with_crc: bool = True,
    control: str = "0001",
) -> str:
    """A complete audit file around ``data_segments`` (each without its line end).

    The G85 CRC covers ``ST`` up to the segment before it, each ended by CR LF whatever
    ``line_end`` the file uses (as ``sales.dex.crc`` checks it); ``SE01`` counts the
    segments from ``ST`` to ``SE`` inclusive.
    """
    body = [f"ST*001*{control}", *data_segments]
    if with_crc:
        crc = crc16_arc("".join(f"{s}\r\n" for s in body).encode("latin-1"))
        body.append(f"G85*{crc:04X}")
    body.append(f"SE*{len(body) + 1}*{control}")
    lines = [f"DXS*{communication_id}*VA*{version}*1", *body, "DXE*1*1"]
    return line_end.join(lines) + line_end


def segment(tag: str, *elements: object) -> str | None:
    """``TAG*e1*e2…`` with trailing empty elements dropped (machines drop them too); None
    when every element is empty. ``None`` elements are empty; text must not hold ``*`` or a
    line end, numbers must be whole and not negative."""
    values = [_element(tag, value) for value in elements]
    while values and values[-1] == "":
        values.pop()
    return "*".join([tag, *values]) if values else None


def _element(tag: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{tag}: a DEX counter cannot be negative ({value})")
        return str(value)
    text = str(value)
    if _FORBIDDEN & set(text):
        raise ValueError(f"{tag}: {text!r} holds a DEX separator or a line end")
    return text


def _date_time(value: datetime | None) -> tuple[str | None, str | None]:
    """``YYMMDD`` (``YYYYMMDD`` outside 2000–2099) and ``HHMM``, or ``HHMMSS`` when the
    seconds are not 0. Naive, in the machine's local time, as DEX has no time zone."""
    if value is None:
        return None, None
    day = f"{value:%y%m%d}" if 2000 <= value.year <= 2099 else f"{value.year:04d}{value:%m%d}"
    return day, f"{value:%H%M%S}" if value.second else f"{value:%H%M}"


def _cashless(device: CashlessCounters) -> Iterable[str | None]:
    tag = device.device
    # xA1 is written even when empty: it is what says the device is there.
    yield segment(f"{tag}1", device.serial, device.model) or f"{tag}1"
    yield segment(f"{tag}2", device.sales_value, device.sales_vends,
                  device.sales_value_since_reset, device.sales_vends_since_reset)
    yield segment(f"{tag}4", device.credited)
    yield segment(f"{tag}5", None, None, device.discounts_value)
    yield segment(f"{tag}10", device.mixed_vends, device.mixed_value)


def _selection(counters: SelectionCounters) -> Iterable[str | None]:
    if not counters.selection.strip():
        raise ValueError("PA1: a selection needs a code")
    yield segment("PA1", counters.selection, counters.price, counters.product_id)
    yield segment("PA2", counters.vends, counters.value, counters.vends_since_reset,
                  counters.value_since_reset)
    yield segment("PA3", counters.test_vends)
    yield segment("PA4", counters.free_vends)


def _event(event: Event) -> str | None:
    if event.segment == "EA1":
        return segment("EA1", event.code, *_date_time(event.occurred_at))
    return segment("EA2", event.code, event.count_since_reset, event.count_since_init, None,
                   event.active)


def audit_segments(audit: Audit, *, readouts: int | None = None) -> list[str]:
    """The data segments of ``audit`` (between ``ST`` and ``G85``), in EVA-DTS order.
    ``readouts`` is ``EA301``, the number of readouts, which the model does not keep."""
    cash, totals = audit.cash, audit.totals
    written: list[str | None] = [
        # ID1 is mandatory: the parser refuses a set without it, even with an empty serial.
        segment("ID1", audit.machine_serial, audit.machine_model, audit.build_standard,
                audit.location, None, audit.asset_number) or "ID1",
        segment("ID4", audit.decimal_places, audit.currency),
        segment("CB1", audit.control_board_serial),
        segment("VA1", totals.paid_value, totals.paid_vends, totals.paid_value_since_reset,
                totals.paid_vends_since_reset, totals.discounts_value),
        segment("VA2", totals.test_value, totals.test_vends),
        segment("VA3", totals.free_value, totals.free_vends),
        segment("CA1", cash.coin_mech_serial, cash.coin_mech_model),
        segment("CA2", cash.cash_sales_value, cash.cash_sales_vends),
        segment("CA3", cash.cash_in_since_reset, cash.cash_to_box_since_reset,
                cash.cash_to_tubes_since_reset, cash.bills_in_since_reset, cash.cash_in,
                cash.cash_to_box, cash.cash_to_tubes, cash.bills_in),
        segment("CA4", cash.dispensed_since_reset, None, cash.dispensed,
                cash.manually_dispensed),
        segment("CA8", None, cash.overpay),
        segment("CA10", None, cash.cash_filled),
        segment("CA15", cash.tube_contents),
        segment("CA16", None, cash.credited),
    ]
    for device in audit.cashless:
        written += _cashless(device)
    for counters in audit.selections:
        written += _selection(counters)
    written += [_event(event) for event in audit.events]
    if audit.read_at is not None or readouts is not None:
        written.append(segment("EA3", readouts, *_date_time(audit.read_at)))
    written += [segment("MA5", *fields) for fields in audit.machine_fields]
    return [line for line in written if line is not None]


def write_audit(audit: Audit, *, readouts: int | None = None, line_end: str = "\r\n") -> str:
    """The audit file of ``audit``: its segments framed by ``write_dex``, with the DXS
    communication id and version of the audit (or the writer's defaults)."""
    framing = {"line_end": line_end}
    if audit.communication_id:
        framing["communication_id"] = audit.communication_id
    if audit.version:
        framing["version"] = audit.version
    return write_dex(audit_segments(audit, readouts=readouts), **framing)
