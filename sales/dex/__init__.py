"""Pure DEX/UCS and EVA-DTS audit parser: no Django, no I/O.

``parse_dex(text)`` returns an ``Audit`` or raises ``DexError`` naming the line and the
segment.  The envelope rules (DXS/ST/SE/G85/DXE) are documented in ``sales.dex.parser``,
the segments read and ignored in ``sales.dex.families``, the CRC in ``sales.dex.crc``.
"""

from sales.dex.crc import crc16_arc, g85_crc
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
from sales.dex.parser import parse_dex

__all__ = [
    "Audit",
    "CashCounters",
    "CashlessCounters",
    "DexError",
    "Event",
    "Segment",
    "SelectionCounters",
    "Totals",
    "crc16_arc",
    "g85_crc",
    "parse_dex",
]
