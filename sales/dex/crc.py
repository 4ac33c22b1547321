"""The G85 check value: CRC-16/ARC over the transaction set, as EVA-DTS specifies it.

CRC-16/ARC: polynomial x^16 + x^15 + x^2 + 1 (0x8005, reflected 0xA001), initial value 0,
input and output reflected, no final XOR (check value of "123456789" is 0xBB3D).  G85's
element is the CRC as 4 hex digits, computed over every byte from the ``S`` of ``ST`` up to
and including the CR LF that ends the segment before ``G85``.  Verified against a real
machine's file (lanmark7/dex-utility ``TestData/Test1.dex``: ``G85*E8BC``) and the same
table-driven algorithm in that repository's ``docs/CRC16.c``.
"""

from __future__ import annotations


def _table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _table()


def crc16_arc(data: bytes, crc: int = 0) -> int:
    """CRC-16/ARC of ``data``, continuing from ``crc`` (0 to start)."""
    for byte in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc


def g85_crc(segment_lines: list[str]) -> int:
    """The G85 value for these segment texts (``ST`` first), each ended by CR LF on the wire.

    Files stored with LF only (or re-saved by an editor) are checked as the machine sent
    them: the terminator is always CR LF, whatever the file holds.
    """
    data = "".join(f"{line}\r\n" for line in segment_lines)
    # latin-1 maps code points 0-255 to the same bytes: a file decoded as latin-1 is
    # checked byte for byte; anything beyond (a str from elsewhere) is encoded as UTF-8.
    try:
        raw = data.encode("latin-1")
    except UnicodeEncodeError:
        raw = data.encode("utf-8")
    return crc16_arc(raw)
