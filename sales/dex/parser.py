"""The DEX/UCS and EVA-DTS audit file: its envelope, segment count and G85 check.

An audit is text: segments separated by CR LF, elements by ``*``, the segment's tag first.
It is framed as ``DXS`` (communication header) … ``ST*001*<control>`` (transaction set
start) … data segments … ``G85*<CRC>`` … ``SE*<count>*<control>`` … ``DXE`` (trailer).

Checked here:

- structure: optional ``DXS`` (telemetry boards often strip it; when present, ``DXE`` is
  required), exactly one ``ST``…``SE`` transaction set, nothing but ``DXE`` after ``SE``;
- ``SE01`` equals the number of segments from ``ST`` to ``SE`` inclusive (or that number
  without the ``LS``/``LE`` loop markers, which some controllers do not count), ``SE02``
  repeats ``ST02``;
- ``G85`` (optional in DEX/UCS, so an audit without it is accepted with
  ``crc_checked=False``) is the CRC-16/ARC of the set from ``ST`` through the segment before
  it, see ``sales.dex.crc``.

Tolerated, because real machines vary: LF-only or CR-only line ends, blank lines, spaces
padding elements or trailing a segment (the CRC is accepted over the segments as stored or
with trailing blanks removed), missing optional elements, unknown segments.  Limits: one
transaction set per file; no interpretation of the per-payment-type selection segments
(``PA7``/``PA8``) or token segments (``TA*``); the transport (DDCMP/DEX handshake) is the
device's business — this reads the file it produced.
"""

from __future__ import annotations

import re

from sales.dex.crc import g85_crc
from sales.dex.elements import number, text
from sales.dex.families import build_audit
from sales.dex.model import Audit, DexError, Segment

_TAG = re.compile(r"[A-Z][A-Z0-9]{1,3}")
_LINE_END = re.compile(r"\r\n|\r|\n")


def _read_segments(text_: str) -> list[tuple[Segment, str]]:
    """Each non-blank line as a segment, with the line's text as stored (for the CRC)."""
    segments = []
    for number_, line in enumerate(_LINE_END.split(text_), start=1):
        stored = line.strip("\x00")  # a NUL-padded buffer dump still reads
        if not stored.strip():
            continue
        tag, *elements = stored.strip().split("*")
        if not _TAG.fullmatch(tag):
            raise DexError(f'not a DEX segment: "{stored.strip()[:40]}"', line=number_)
        segments.append((Segment(number_, tag, tuple(elements)), stored))
    return segments


def _check_crc(g85: Segment, stored: list[str]) -> None:
    declared = text(g85, 1)
    if declared is None or not re.fullmatch(r"[0-9A-Fa-f]{1,4}", declared):
        raise DexError(
            f'expected 4 hex digits in element 1, got "{declared or ""}"',
            line=g85.line,
            segment=g85.tag,
        )
    expected = int(declared, 16)
    computed = g85_crc(stored)
    if computed != expected and g85_crc([s.rstrip() for s in stored]) != expected:
        raise DexError(
            f"CRC mismatch: the file says {expected:04X}, its content gives {computed:04X}",
            line=g85.line,
            segment=g85.tag,
        )


def parse_dex(
    data: str | bytes, *, check_crc: bool = True, check_segment_count: bool = True
) -> Audit:
    """Parse one DEX/UCS or EVA-DTS audit file into an ``Audit``.

    ``bytes`` are decoded as latin-1 (lossless, so the CRC sees the bytes the machine sent).
    Raises ``DexError`` naming the line and segment of the first problem.  The two switches
    exist for machines known to send a wrong CRC or count; they default to strict.
    """
    text_ = data.decode("latin-1") if isinstance(data, bytes) else data
    segments = _read_segments(text_)
    if not segments:
        raise DexError("empty file: no segments")
    last_line = segments[-1][0].line
    position = 0
    dxs: Segment | None = None
    first = segments[0][0]
    if first.tag == "DXS":
        dxs = first
        position = 1
    if position >= len(segments):
        raise DexError(
            "missing: the file ends before ST (truncated?)", line=last_line, segment="ST"
        )
    st = segments[position][0]
    if st.tag != "ST":
        expected = "ST" if dxs else "DXS or ST"
        raise DexError(f"expected {expected} here", line=st.line, segment=st.tag)

    inner: list[Segment] = []
    stored: list[str] = [segments[position][1]]  # CRC input: ST up to the segment before G85
    g85: Segment | None = None
    se: Segment | None = None
    for seg, raw in segments[position + 1 :]:
        position += 1
        if seg.tag == "SE":
            se = seg
            break
        if seg.tag in ("ST", "DXS", "DXE"):
            raise DexError(
                f"{seg.tag} inside the transaction set opened by ST at line {st.line} (missing SE)",
                line=seg.line,
                segment=seg.tag,
            )
        if seg.tag == "G85":
            g85 = seg
        elif g85 is None:
            stored.append(raw)
            inner.append(seg)
        else:
            inner.append(seg)  # after G85 but before SE: outside the CRC, still data
    if se is None:
        raise DexError(
            f"missing: the file ends inside the transaction set opened by ST at line {st.line} "
            "(truncated?)",
            line=last_line,
            segment="SE",
        )

    count = number(se, 1)
    actual = len(inner) + (g85 is not None) + 2
    # Some controllers leave the LS/LE loop markers out of the count (seen in a real
    # file: SE*54 over 58 segments, 4 of them LS/LE); both readings are accepted.
    loops = sum(seg.tag in ("LS", "LE") for seg in inner)
    if check_segment_count and count not in (actual, actual - loops):
        raise DexError(
            f"segment count {count} does not match the {actual} segments from ST to SE",
            line=se.line,
            segment=se.tag,
        )
    if text(se, 2) != text(st, 2):
        raise DexError(
            f'control number "{text(se, 2)}" does not match ST\'s "{text(st, 2)}"',
            line=se.line,
            segment=se.tag,
        )
    if g85 is not None and check_crc:
        _check_crc(g85, stored)

    rest = [seg for seg, _ in segments[position + 1 :]]
    if dxs is not None and (not rest or rest[0].tag != "DXE"):
        where = rest[0] if rest else None
        raise DexError(
            "missing: no DXE after SE (truncated?)" if where is None else "expected DXE here",
            line=where.line if where else last_line,
            segment=where.tag if where else "DXE",
        )
    if dxs is None and rest:
        raise DexError("unexpected segment after SE", line=rest[0].line, segment=rest[0].tag)
    if len(rest) > 1:
        raise DexError(
            "unexpected segment after DXE (one transaction set per file)",
            line=rest[1].line,
            segment=rest[1].tag,
        )

    return build_audit(
        inner,
        communication_id=text(dxs, 1) if dxs else None,
        version=text(dxs, 3) if dxs else None,
        crc_checked=g85 is not None and check_crc,
    )
