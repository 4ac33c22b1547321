"""Engine.IO v4 wire codec: packets, polling payloads and the open handshake.

Pure functions and immutable values only: no I/O, no asyncio, no Django.  The
framing follows the reference JavaScript ``engine.io-parser`` (see
``/work/shared/reference/protocol-notes.md``), because strict clients compare
frames and polling bodies as exact strings.

Text packets are one type digit followed by the data (``"4hello"``,
``"2probe"``, ``"3"``).  Binary ``MESSAGE`` packets travel as raw frames on a
websocket and as ``"b" + base64`` inside polling payloads, whose packets are
joined by the record separator ``"\\x1e"``.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

__all__ = [
    "SEPARATOR",
    "Packet",
    "PacketType",
    "ProtocolError",
    "decode_payload",
    "encode_payload",
    "open_packet",
]

SEPARATOR = "\x1e"
"""Record separator between packets of a long-polling payload."""

_BINARY_TYPES = (bytes, bytearray, memoryview)


class ProtocolError(ValueError):
    """Raised for every malformed Engine.IO or Socket.IO input.

    A server should treat it as fatal for the connection (close it), as the
    reference server does.  It subclasses :class:`ValueError` so callers that
    already catch ``ValueError`` keep working.
    """


class PacketType(enum.IntEnum):
    """Engine.IO packet types; the value is the digit written on the wire."""

    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


# Lookup by the wire character rather than int(): int() would also accept
# non-ASCII digits such as "٤", which the JS parser rejects.
_TYPE_BY_CHAR: dict[str, PacketType] = {str(t.value): t for t in PacketType}
_CHAR_BY_TYPE: tuple[str, ...] = tuple(str(t.value) for t in PacketType)


@dataclass(frozen=True, slots=True)
class Packet:
    """One Engine.IO packet.

    ``data`` is ``bytes`` only for a binary ``MESSAGE``; otherwise it is the
    text that follows the type digit, or ``None`` when there is none.  A text
    ``MESSAGE`` always carries a ``str`` (possibly empty) after decoding, so the
    Socket.IO layer never has to handle ``None``.

    Construction normalises ``type`` to :class:`PacketType` and
    ``bytearray``/``memoryview`` data to ``bytes`` (so the packet is really
    immutable); it raises :class:`ValueError`/:class:`TypeError` for misuse.
    """

    type: PacketType
    data: str | bytes | None = None

    def __post_init__(self) -> None:
        if type(self.type) is not PacketType:
            # Accept plain ints for convenience; reject values off the wire range.
            object.__setattr__(self, "type", PacketType(self.type))
        data = self.data
        if isinstance(data, (bytearray, memoryview)):
            object.__setattr__(self, "data", data := bytes(data))
        elif data is not None and not isinstance(data, (str, bytes)):
            raise TypeError(f"Engine.IO packet data must be str, bytes or None, not {type(data)}")
        if isinstance(data, bytes) and self.type is not PacketType.MESSAGE:
            raise ValueError("only MESSAGE packets can carry binary data")

    @property
    def binary(self) -> bool:
        """True for a binary ``MESSAGE`` (``data`` is ``bytes``)."""
        return isinstance(self.data, bytes)

    def encode_websocket(self) -> str | bytes:
        """Encode for one websocket frame.

        Returns the text frame (``"4hello"``, ``"2probe"``, ``"3"``) or, for a
        binary ``MESSAGE``, the raw bytes to send as a binary frame.
        """
        data = self.data
        if data is None:
            return _CHAR_BY_TYPE[self.type]
        if isinstance(data, bytes):
            return data
        return _CHAR_BY_TYPE[self.type] + data

    def encode_polling(self) -> str:
        """Encode as one element of a long-polling payload (always text).

        Binary ``MESSAGE`` data becomes ``"b"`` + standard padded base64, which
        is what the JS client expects.  Text data must not contain
        :data:`SEPARATOR`, which would split the packet (the JS parser has the
        same restriction and does not check it either).
        """
        data = self.data
        if data is None:
            return _CHAR_BY_TYPE[self.type]
        if isinstance(data, bytes):
            return "b" + base64.b64encode(data).decode("ascii")
        return _CHAR_BY_TYPE[self.type] + data

    @classmethod
    def decode_websocket(cls, frame: str | bytes) -> Packet:
        """Decode one websocket frame.

        A binary frame (``bytes``/``bytearray``/``memoryview``) is a binary
        ``MESSAGE``.  A text frame is a type digit ``0``-``6`` plus data; like
        the JS parser, a text frame starting with ``"b"`` is base64 binary too
        (the JS client sends that with ``forceBase64``).  Trailing data is kept
        for every type, as the JS parser does; it is the server's business to
        ignore it.  Raises :class:`ProtocolError` for an empty frame or an
        unknown type.
        """
        if isinstance(frame, str):
            return _decode_text(frame)
        if isinstance(frame, _BINARY_TYPES):
            return cls(PacketType.MESSAGE, bytes(frame))
        raise TypeError(f"websocket frame must be str or bytes, not {type(frame)}")

    @classmethod
    def decode_polling(cls, text: str) -> Packet:
        """Decode one packet of a long-polling payload (already split).

        ``"b"`` + base64 is a binary ``MESSAGE``; invalid base64 raises
        :class:`ProtocolError`, as do an empty string and an unknown type.
        """
        if not isinstance(text, str):
            raise TypeError(f"polling packet must be str, not {type(text)}")
        return _decode_text(text)


def _decode_text(text: str) -> Packet:
    if not text:
        raise ProtocolError("empty Engine.IO packet")
    first = text[0]
    if first == "b":
        return Packet(PacketType.MESSAGE, _b64decode(text[1:]))
    ptype = _TYPE_BY_CHAR.get(first)
    if ptype is None:
        raise ProtocolError(f"unknown Engine.IO packet type {first!r}")
    data = text[1:]
    if ptype is PacketType.MESSAGE:
        # A text message is always a str so the Socket.IO decoder gets a str.
        return Packet(ptype, data)
    return Packet(ptype, data or None)


def _b64decode(text: str) -> bytes:
    # validate=True: Node's Buffer.from() silently skips junk, but junk here
    # means a broken client or an attack, and the brief is to fail loudly.
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        # ValueError covers non-ASCII characters in the str.
        raise ProtocolError(f"invalid base64 in binary packet: {exc}") from None


def encode_payload(packets: Iterable[Packet]) -> str:
    """Encode a long-polling response body: packets joined by ``"\\x1e"``.

    An empty iterable gives ``""``; callers should not send an empty body.
    """
    return SEPARATOR.join([p.encode_polling() for p in packets])


def decode_payload(body: str | bytes, *, max_packets: int = 1000) -> list[Packet]:
    """Decode a long-polling request body into packets, in order.

    ``bytes`` are decoded as UTF-8.  Raises :class:`ProtocolError` for invalid
    UTF-8, an empty body, more than ``max_packets`` packets, or any packet that
    :meth:`Packet.decode_polling` rejects (including an empty packet between
    two separators).
    """
    if isinstance(body, _BINARY_TYPES):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"payload is not valid UTF-8: {exc}") from None
    elif not isinstance(body, str):
        raise TypeError(f"payload must be str or bytes, not {type(body)}")
    if not body:
        raise ProtocolError("empty payload")
    # maxsplit bounds the work done on a hostile body before we refuse it.
    parts = body.split(SEPARATOR, max_packets)
    if len(parts) > max_packets:
        raise ProtocolError(f"payload has more than {max_packets} packets")
    return [_decode_text(part) for part in parts]


def open_packet(
    *,
    sid: str,
    upgrades: list[str],
    ping_interval_ms: int,
    ping_timeout_ms: int,
    max_payload: int,
) -> Packet:
    """Build the handshake ``OPEN`` packet.

    Its data is exactly
    ``{"sid":"…","upgrades":[…],"pingInterval":N,"pingTimeout":N,"maxPayload":N}``:
    compact, keys in that order, intervals in milliseconds as given (300 stays
    300; python-engineio rounds sub-second intervals down, a bug).  The
    integers must be ``int`` (not ``float``/``bool``) so the text never shows
    ``300.0`` or ``true``.
    """
    for name, value in (
        ("ping_interval_ms", ping_interval_ms),
        ("ping_timeout_ms", ping_timeout_ms),
        ("max_payload", max_payload),
    ):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")
        if value < 0:
            raise ValueError(f"{name} must not be negative")
    if not isinstance(sid, str):
        raise TypeError("sid must be a str")
    handshake = {
        "sid": sid,
        "upgrades": list(upgrades),
        "pingInterval": int(ping_interval_ms),
        "pingTimeout": int(ping_timeout_ms),
        "maxPayload": int(max_payload),
    }
    return Packet(PacketType.OPEN, orjson.dumps(handshake).decode("utf-8"))
