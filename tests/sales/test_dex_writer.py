"""`sales.dex.writer`: every counter the parser reads is written so that it reads back the
same, and the G85 CRC it writes agrees with an independent bit-by-bit CRC-16/ARC."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sales.dex import (
    Audit,
    CashCounters,
    CashlessCounters,
    Event,
    SelectionCounters,
    Totals,
    parse_dex,
)
from sales.dex.writer import audit_segments, write_audit, write_dex


def crc16_arc_bitwise(data: bytes) -> int:
    """CRC-16/ARC bit by bit, independent of the table-driven `sales.dex.crc`."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


COFFEE = Audit(
    machine_serial="VH-0001", machine_model="Necta Kikko Max", decimal_places=0,
    currency="860", read_at=datetime(2026, 3, 1, 14, 5, 30),
    totals=Totals(paid_value=420000, paid_vends=31, paid_value_since_reset=42000,
                  paid_vends_since_reset=3),
    cash=CashCounters(cash_sales_value=180000, cash_sales_vends=13, cash_in=180000,
                      cash_to_box=180000, cash_to_tubes=0, bills_in=180000),
    cashless=(CashlessCounters("DA", serial="UZCARD-1", sales_value=240000, sales_vends=18),),
    selections=(SelectionCounters("1", price=12000, vends=20, value=240000),
                SelectionCounters("2", price=15000, vends=11, value=180000)),
    events=(Event("EA2", "EGS", count_since_reset=2, count_since_init=9),),
)


def test_a_coffee_machines_audit_is_the_segments_of_its_counters():
    assert audit_segments(COFFEE, readouts=4) == [
        "ID1*VH-0001*Necta Kikko Max",
        "ID4*0*860",
        "VA1*420000*31*42000*3",
        "CA2*180000*13",
        "CA3*****180000*180000*0*180000",
        "DA1*UZCARD-1",
        "DA2*240000*18",
        "PA1*1*12000",
        "PA2*20*240000",
        "PA1*2*15000",
        "PA2*11*180000",
        "EA2*EGS*2*9",
        "EA3*4*260301*140530",
    ]


@pytest.mark.parametrize("line_end", ["\r\n", "\n"])
def test_the_envelope_counts_segments_and_carries_an_independently_checked_crc(line_end):
    text = write_audit(COFFEE, line_end=line_end)
    lines = text.split(line_end)[:-1]
    assert lines[0].startswith("DXS*") and lines[1] == "ST*001*0001" and lines[-1] == "DXE*1*1"
    se = lines[-2].split("*")
    assert se == ["SE", str(len(lines) - 2), "0001"]  # ST..SE, without DXS and DXE
    crc_input = "".join(f"{line}\r\n" for line in lines[1:-3]).encode("latin-1")
    assert lines[-3] == f"G85*{crc16_arc_bitwise(crc_input):04X}"
    assert parse_dex(text).crc_checked


def test_counters_that_are_not_reported_are_left_out_not_written_as_zero():
    text = write_audit(Audit(machine_serial="S1", totals=Totals(paid_vends=0)))
    audit = parse_dex(text)
    assert audit.totals.paid_vends == 0 and audit.totals.paid_value is None
    assert audit.cash == CashCounters() and audit.cashless == ()


def test_an_audit_without_a_serial_still_has_its_mandatory_id1():
    assert audit_segments(Audit(machine_serial=None))[0] == "ID1"
    assert parse_dex(write_audit(Audit(machine_serial=None))).machine_serial is None


@pytest.mark.parametrize("audit", [
    Audit(machine_serial="A*B"),
    Audit(machine_serial="S1", location="line\r\nbreak"),
    Audit(machine_serial="S1", totals=Totals(paid_value=-1)),
    Audit(machine_serial="S1", selections=(SelectionCounters(" "),)),
])
def test_what_dex_cannot_carry_is_refused_rather_than_written_wrong(audit):
    with pytest.raises(ValueError):
        write_audit(audit)


def test_a_date_outside_the_two_digit_century_is_written_with_four_digits():
    audit = Audit(machine_serial="S1", read_at=datetime(1999, 12, 31, 23, 59))
    assert "EA3**19991231*2359" in write_audit(audit)
    assert parse_dex(write_audit(audit)).read_at == audit.read_at


def test_framing_alone_matches_the_old_test_writer_output():
    assert write_dex(["ID1*S1"], with_crc=False) == (
        "DXS*VHB0000001*VA*V1/1*1\r\nST*001*0001\r\nID1*S1\r\nSE*3*0001\r\nDXE*1*1\r\n")


# -- property: write then parse gives the same audit ------------------------------------

count = st.none() | st.integers(min_value=0, max_value=10**12)
word = st.none() | st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-/", min_size=1,
                           max_size=12)
moment = st.none() | st.datetimes(min_value=datetime(1990, 1, 1),
                                  max_value=datetime(2098, 12, 31)).map(
    lambda d: d.replace(microsecond=0))


def _fields(cls, **strategies) -> st.SearchStrategy:
    return st.builds(cls, **strategies)


totals = _fields(Totals, **{name: count for name in Totals.__slots__})
cash = _fields(CashCounters, **{name: word if name.startswith("coin_mech") else count
                                for name in CashCounters.__slots__})
cashless = st.lists(st.sampled_from(["DA", "DB"]), unique=True, max_size=2).map(sorted).flatmap(
    lambda devices: st.tuples(*[_fields(
        CashlessCounters, device=st.just(device), serial=word, model=word,
        **{name: count for name in CashlessCounters.__slots__
           if name not in ("device", "serial", "model")}) for device in devices]))
selection = _fields(SelectionCounters,
                    selection=st.text(alphabet="ABC0123456789", min_size=1, max_size=4),
                    price=count, product_id=word, vends=count, value=count,
                    vends_since_reset=count, value_since_reset=count, test_vends=count,
                    free_vends=count)
event = st.one_of(
    _fields(Event, segment=st.just("EA1"), code=st.sampled_from(["EGS", "EJJ", "OBI"]),
            occurred_at=moment),
    _fields(Event, segment=st.just("EA2"), code=st.sampled_from(["EGS", "EJJ"]),
            count_since_reset=count, count_since_init=count,
            active=st.none() | st.booleans()))
audits = _fields(
    Audit, machine_serial=word, machine_model=word, build_standard=word, location=word,
    asset_number=word, control_board_serial=word, decimal_places=st.none() | st.integers(0, 3),
    currency=st.none() | st.just("860"), read_at=moment, totals=totals, cash=cash,
    cashless=cashless, selections=st.lists(selection, max_size=8).map(tuple),
    events=st.lists(event, max_size=4).map(tuple),
    machine_fields=st.lists(st.tuples(st.sampled_from(["SW", "HW"]), word.filter(bool)),
                            max_size=2).map(tuple))


@settings(max_examples=150, deadline=None)
@given(audits)
def test_a_written_audit_parses_back_to_the_same_audit(audit):
    parsed = parse_dex(write_audit(audit))
    # A tube total written as one CA15 reads back as that total; the envelope is the writer's.
    expected = audit.__class__(**{
        **{name: getattr(audit, name) for name in Audit.__slots__},
        "communication_id": "VHB0000001", "version": "V1/1", "crc_checked": True})
    assert parsed == expected
