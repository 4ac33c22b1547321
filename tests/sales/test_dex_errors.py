"""Malformed audits raise a DexError naming the line and the segment."""

from __future__ import annotations

from pathlib import Path

import pytest

from sales.dex import DexError, parse_dex
from sales.dex.writer import write_dex

FIXTURES = Path(__file__).parent / "fixtures"


def error_of(data: str | bytes) -> DexError:
    with pytest.raises(DexError) as caught:
        parse_dex(data)
    return caught.value


@pytest.mark.parametrize(
    ("fixture", "line", "segment", "message"),
    [
        ("bad_crc.dex", 57, "G85", "CRC mismatch: the file says DC5C, its content gives DD83"),
        ("truncated.dex", 41, "SE", "missing: the file ends inside the transaction set"),
        ("wrong_segment_count.dex", 58, "SE", "segment count 50 does not match the 57 segments"),
        ("not_a_number.dex", 26, "PA2", 'expected a number in element 2, got "x"'),
    ],
)
def test_malformed_fixture_names_line_and_segment(fixture, line, segment, message):
    error = error_of((FIXTURES / fixture).read_bytes())
    assert (error.line, error.segment) == (line, segment)
    assert str(error).startswith(f"line {line}, segment {segment}: {message}")


def test_missing_dxe_after_dxs_is_truncation():
    text = write_dex(["ID1*S1"]).replace("DXE*1*1\r\n", "")
    error = error_of(text)
    assert (error.line, error.segment) == (5, "DXE")


def test_wrong_crc_can_be_waived_for_a_known_bad_machine():
    text = (FIXTURES / "bad_crc.dex").read_bytes()
    assert parse_dex(text, check_crc=False).selections[1].vends == 656


def test_g85_that_is_not_hex_is_named():
    error = error_of(write_dex(["ID1*S1"], with_crc=False).replace("SE*3*", "G85*ZZ\r\nSE*4*"))
    assert (error.line, error.segment) == (4, "G85")


def test_segment_before_st_is_unknown_structure():
    error = error_of("DXS*1*VA*V0/6*1\r\nID1*S1\r\nST*001*0001\r\n")
    assert (error.line, error.segment, error.reason) == (2, "ID1", "expected ST here")


def test_st_inside_an_open_set_means_a_missing_se():
    error = error_of("ST*001*0001\nID1*S1\nST*001*0002\nSE*3*0002\n")
    assert (error.line, error.segment) == (3, "ST")


def test_se_control_number_must_repeat_st():
    error = error_of("ST*001*0001\nID1*S1\nSE*3*0002\n")
    assert (error.line, error.segment) == (3, "SE")


def test_missing_id1_is_missing_mandatory_structure():
    error = error_of(write_dex(["VA1*1*1"]))
    assert error.segment == "ID1" and "no ID1" in str(error)


def test_pa2_without_pa1_is_named():
    error = error_of(write_dex(["ID1*S1", "PA2*1*1"]))
    assert (error.line, error.segment) == (4, "PA2")


def test_a_line_that_is_not_a_segment_is_named():
    error = error_of("ST*001*0001\nhello world\nSE*2*0001\n")
    assert (error.line, error.segment) == (2, None)
    assert str(error).startswith('line 2: not a DEX segment: "hello world"')


def test_empty_file():
    assert "empty" in str(error_of(b"\r\n  \r\n"))


def test_data_after_dxe_is_refused():
    error = error_of(write_dex(["ID1*S1"]) + "ST*001*0002\r\n")
    assert (error.line, error.segment) == (7, "ST")
