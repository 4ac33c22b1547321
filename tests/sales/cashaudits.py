"""Audits of the coffee fixture with a chosen amount of cash to the cash box: the cash
estimate's tests read `CA306` differences (sales.cash_rules)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from tests.sales.conftest import fixture_text
from tests.sales.dexwriter import write_dex


def cash_audit(*, read_at: datetime, time_zone: str, to_box: int = 0) -> str:
    """The coffee fixture read at `read_at` (EA3, local time) with `to_box` more cash to
    the cash box (CA306, and CA305 cash in) than its own counters."""
    local = read_at.astimezone(ZoneInfo(time_zone))
    lines = fixture_text("coffee_machine.dex").splitlines()
    data = lines[lines.index("ST*001*0001") + 1:-3]  # without ST, G85, SE, DXE
    out = []
    for line in data:
        tag, *elements = line.split("*")
        if tag == "CA3":  # CA305 cash in, CA306 to the cash box (since initialization)
            elements[4] = str(int(elements[4]) + to_box)
            elements[5] = str(int(elements[5]) + to_box)
        if tag == "EA3":
            elements[1:3] = [f"{local:%y%m%d}", f"{local:%H%M}"]
        out.append("*".join([tag, *elements]))
    return write_dex(out)
