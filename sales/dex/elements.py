"""Reading one segment's elements: numbers, text, dates, with errors naming line and element.

Elements are numbered as EVA-DTS numbers them: ``PA102`` is element 2 of ``PA1`` (the tag is
element 0).  A missing or empty element is ``None``: machines drop trailing optional
elements, and pad others with spaces.
"""

from __future__ import annotations

from datetime import datetime

from sales.dex.model import DexError, Segment


def text(seg: Segment, index: int) -> str | None:
    """Element ``index`` stripped of padding, or ``None`` when absent or empty."""
    if index > len(seg.elements):
        return None
    value = seg.elements[index - 1].strip()
    return value or None


def number(seg: Segment, index: int) -> int | None:
    """Element ``index`` as a non-negative integer, ``None`` when absent or empty.

    Counters and money in DEX are unsigned decimal integers in minor units; anything else
    (a sign, a decimal point, a letter) is an error rather than a guess.
    """
    value = text(seg, index)
    if value is None:
        return None
    if not value.isascii() or not value.isdigit():
        raise DexError(
            f'expected a number in element {index}, got "{value}"', line=seg.line, segment=seg.tag
        )
    return int(value)


def flag(seg: Segment, index: int) -> bool | None:
    """A 0/1 element (``EA205`` current activity) as a bool."""
    value = number(seg, index)
    return None if value is None else value != 0


def date_time(seg: Segment, date_index: int, time_index: int) -> datetime | None:
    """``YYMMDD`` (or ``YYYYMMDD``) plus ``HHMM`` (or ``HHMMSS``) as a naive datetime.

    Machines without a set clock send zeros or garbage here; that is not worth rejecting a
    whole audit, so an impossible date is ``None``.  The result is naive: DEX carries no
    time zone, and the caller knows the machine's.
    """
    day = text(seg, date_index)
    if day is None or not day.isdigit() or len(day) not in (6, 8):
        return None
    clock = text(seg, time_index) or "0000"
    if not clock.isdigit() or len(clock) not in (4, 6):
        clock = "0000"
    year = int(day[:-4]) + (2000 if len(day) == 6 else 0)
    try:
        return datetime(
            year,
            int(day[-4:-2]),
            int(day[-2:]),
            int(clock[:2]),
            int(clock[2:4]),
            int(clock[4:6] or 0),
        )
    except ValueError:
        return None
