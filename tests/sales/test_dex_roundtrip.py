"""Property: audits written by `sales.dex.writer` parse back to the same counters, and
the G85 CRC catches any single changed character of the transaction set."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sales.dex import DexError, parse_dex
from sales.dex.writer import write_dex

counter = st.integers(min_value=0, max_value=10**9)
serial = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=1, max_size=16)
selection = st.text(alphabet="ABCDE0123456789", min_size=1, max_size=4)


@st.composite
def audits(draw: st.DrawFn) -> dict:
    names = draw(st.lists(selection, min_size=0, max_size=40, unique=True))
    return {
        "serial": draw(serial),
        "totals": draw(st.tuples(counter, counter, counter, counter)),
        "cash": draw(st.tuples(*[counter] * 8)),
        "card": draw(st.tuples(counter, counter)),
        "selections": [(name, *draw(st.tuples(counter, counter, counter))) for name in names],
        "line_end": draw(st.sampled_from(["\r\n", "\n"])),
    }


def encode(spec: dict) -> str:
    segments = [f"ID1*{spec['serial']}*MODEL*1", "VA1*{}*{}*{}*{}".format(*spec["totals"])]
    segments.append("CA3*" + "*".join(map(str, spec["cash"])))
    segments.append("DA2*{}*{}".format(*spec["card"]))
    for name, price, vends, value in spec["selections"]:
        segments += [f"PA1*{name}*{price}", f"PA2*{vends}*{value}"]
    return write_dex(segments, line_end=spec["line_end"])


@settings(max_examples=60, deadline=None)
@given(audits())
def test_written_audits_parse_back_to_the_same_counters(spec):
    audit = parse_dex(encode(spec))
    assert audit.machine_serial == spec["serial"] and audit.crc_checked
    t = audit.totals
    assert (t.paid_value, t.paid_vends, t.paid_value_since_reset, t.paid_vends_since_reset) == (
        spec["totals"]
    )
    c = audit.cash
    assert (
        c.cash_in_since_reset,
        c.cash_to_box_since_reset,
        c.cash_to_tubes_since_reset,
        c.bills_in_since_reset,
        c.cash_in,
        c.cash_to_box,
        c.cash_to_tubes,
        c.bills_in,
    ) == spec["cash"]
    assert (audit.cashless[0].sales_value, audit.cashless[0].sales_vends) == spec["card"]
    assert [(s.selection, s.price, s.vends, s.value) for s in audit.selections] == spec[
        "selections"
    ]


@settings(max_examples=150, deadline=None)
@given(audits(), st.data())
def test_any_single_changed_character_of_the_set_is_refused(spec, data):
    text = encode(spec)
    start = text.index("ST*")
    end = text.index("G85*")  # the CRC covers ST up to the line end before G85
    position = data.draw(st.integers(min_value=start, max_value=end - 1))
    if text[position] in "\r\n":
        return  # line ends are normalized by design: LF-only files are valid
    replacement = data.draw(
        st.characters(min_codepoint=32, max_codepoint=126).filter(lambda c: c != text[position])
    )
    changed = text[:position] + replacement + text[position + 1 :]
    with pytest.raises(DexError):
        parse_dex(changed)
