"""A small test-side DEX writer: frames data segments with DXS/ST/G85/SE/DXE.

Its CRC is a bit-by-bit CRC-16/ARC written independently of ``sales.dex.crc`` (table
driven), so a parser test does not check the parser against itself.
"""

from __future__ import annotations


def crc16_arc_bitwise(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def write_dex(
    data_segments: list[str],
    *,
    communication_id: str = "VHB0000001",
    version: str = "V1/1",
    line_end: str = "\r\n",
    with_crc: bool = True,
) -> str:
    """A complete audit file around ``data_segments`` (each without its line end)."""
    body = ["ST*001*0001", *data_segments]
    crc = crc16_arc_bitwise("".join(f"{s}\r\n" for s in body).encode("latin-1"))
    if with_crc:
        body.append(f"G85*{crc:04X}")
    body.append(f"SE*{len(body) + 1}*0001")
    lines = [f"DXS*{communication_id}*VA*{version}*1", *body, "DXE*1*1"]
    return line_end.join(lines) + line_end
