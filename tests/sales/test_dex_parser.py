"""The DEX/EVA-DTS parser reads the fixture audits' counters (no database)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from sales.dex import crc16_arc, parse_dex
from sales.dex.writer import write_dex

FIXTURES = Path(__file__).parent / "fixtures"


def read(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_crc16_is_the_arc_variant():
    assert crc16_arc(b"123456789") == 0xBB3D


def test_coffee_machine_audit_reads_identity_totals_cash_and_recipes():
    audit = parse_dex(read("coffee_machine.dex"))
    assert audit.machine_serial == "CF2206A0113"
    assert audit.machine_model == "NECTA-KORO"
    assert audit.asset_number == "VH-0113"
    assert audit.control_board_serial == "CF2206A0113"
    assert (audit.decimal_places, audit.currency) == (0, "860")
    assert audit.version == "V1/1" and audit.crc_checked
    assert audit.read_at == datetime(2025, 6, 11, 8, 15)
    assert audit.totals.paid_vends == sum(s.vends for s in audit.selections) == 3183
    assert audit.totals.paid_value == sum(s.value for s in audit.selections)
    assert (audit.totals.test_value, audit.totals.test_vends) == (24000, 2)
    assert audit.totals.free_vends == 3
    cash = audit.cash
    assert (cash.cash_in, cash.cash_to_box, cash.cash_to_tubes) == (23310000, 17800000, 5510000)
    assert (cash.bills_in, cash.dispensed, cash.manually_dispensed) == (16900000, 4890000, 120000)
    assert (cash.cash_sales_value, cash.cash_sales_vends) == (21730000, 2103)
    assert cash.cash_in_since_reset == 1200000 and cash.tube_contents == 740000
    assert audit.cashless == ()
    latte = audit.selections[3]
    assert (latte.selection, latte.price, latte.product_id) == ("4", 14000, "LATTE")
    assert (latte.vends, latte.value, latte.vends_since_reset) == (720, 720 * 14000, 700)
    assert (latte.test_vends, latte.free_vends) == (1, 0)


def test_coffee_machine_events_and_machine_fields():
    audit = parse_dex(read("coffee_machine.dex"))
    door = audit.events[0]
    assert (door.segment, door.code, door.occurred_at) == (
        "EA1",
        "EGS",
        datetime(2025, 6, 11, 8, 12),
    )
    cooling = [e for e in audit.events if e.segment == "EA2" and e.code == "EJJ"][0]
    assert (cooling.count_since_reset, cooling.count_since_init, cooling.active) == (0, 2, False)
    assert ("BUNKER", "COFFEE", "1850") in audit.machine_fields


def test_snack_machine_with_lf_line_ends_reads_thirty_selections():
    audit = parse_dex(read("snack_machine_30.dex"))
    assert audit.crc_checked and audit.version == "V0/6"
    assert len(audit.selections) == 30
    assert [s.selection for s in audit.selections[:7]] == ["A1", "A2", "A3", "A4", "A5", "A6", "B1"]
    assert audit.totals.paid_value == sum(s.value for s in audit.selections)
    assert all(s.value == s.vends * s.price for s in audit.selections)
    assert [s.tag for s in audit.unknown_segments] == ["TA2"]


def test_eva_dts_file_reads_both_cashless_devices_and_keeps_vendor_segments():
    audit = parse_dex(read("evadts_cashless.dex"))
    card, mobile = audit.cashless
    assert (card.device, card.serial, card.sales_value, card.sales_vends) == (
        "DA",
        "NAYAX0012345",
        1040000,
        236,
    )
    assert (card.sales_value_since_reset, card.mixed_vends, card.mixed_value) == (200000, 4, 16000)
    assert (mobile.device, mobile.sales_value, mobile.sales_vends) == ("DB", 400000, 80)
    assert audit.decimal_places == 2
    assert [s.tag for s in audit.unknown_segments] == ["ZZ1"]
    assert audit.unknown_segments[0].line == 21
    assert audit.events[0].code == "EJL"


def test_real_controller_file_that_leaves_loop_markers_out_of_the_count_is_accepted():
    # Shape of a real file: SE counts 54 of 58 segments, the 4 missing being LS/LE.
    data = ["ID1******", "VA1*1000*2*0*0", "LS*0100", "PA1*1*500", "PA2*2*1000*0*0", "LE*0100"]
    text = write_dex(data).replace("SE*10*0001", "SE*8*0001")
    assert parse_dex(text).selections[0].vends == 2


@pytest.mark.parametrize("line_end", ["\r\n", "\n", "\r"])
def test_line_ends_trailing_blanks_and_missing_optional_elements_are_tolerated(line_end):
    text = write_dex(["ID1*S1", "PA1*7*500", "PA2*3"], line_end=line_end)
    text = text.replace(f"PA1*7*500{line_end}", f"PA1*7*500  {line_end}{line_end}")
    audit = parse_dex(text)
    assert audit.crc_checked
    sel = audit.selections[0]
    assert (sel.selection, sel.price, sel.vends, sel.value) == ("7", 500, 3, None)


def test_file_without_g85_or_dxs_is_read_unchecked():
    text = "ST*001*0001\r\nID1*S2\r\nVA1*10*1\r\nSE*4*0001\r\n"
    audit = parse_dex(text)
    assert not audit.crc_checked and audit.totals.paid_value == 10 and audit.version is None


def test_unreadable_dates_are_none_not_errors():
    audit = parse_dex(write_dex(["ID1*S3", "EA3*1*000000*0000", "EA1*EGS*991399*2561"]))
    assert audit.read_at is None and audit.events[0].occurred_at is None
