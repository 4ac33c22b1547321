"""Socket.IO v5 wire codec: packets, binary attachments and a stateful decoder.

Pure code: no I/O, no asyncio, no Django.  The text form is what travels inside
an Engine.IO ``MESSAGE`` packet (without its ``"4"`` prefix)::

    <type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]

e.g. ``2["hello",1]``, ``3/custom,12["ok"]``, ``51-["m",{"_placeholder":true,"num":0}]``.
Encoding matches the reference JavaScript ``socket.io-parser`` byte for byte:
a namespace other than ``"/"`` is always followed by ``","`` (also when nothing
follows, ``1/custom,``), JSON is compact with insertion-ordered keys.  Binary
payloads are split into a text header with ``{"_placeholder":true,"num":i}``
markers plus one binary message per attachment, in document order.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from .engineio import ProtocolError

__all__ = [
    "Decoder",
    "Packet",
    "PacketType",
    "ProtocolError",
    "encode_event",
]

_BINARY_TYPES = (bytes, bytearray, memoryview)
_dumps = orjson.dumps
_loads = orjson.loads


class PacketType(enum.IntEnum):
    """Socket.IO packet types; the value is the digit written on the wire."""

    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


_TYPE_BY_CHAR: dict[str, PacketType] = {str(t.value): t for t in PacketType}
_BINARY_OF = {PacketType.EVENT: PacketType.BINARY_EVENT, PacketType.ACK: PacketType.BINARY_ACK}
_PLAIN_OF = {PacketType.BINARY_EVENT: PacketType.EVENT, PacketType.BINARY_ACK: PacketType.ACK}


@dataclass(frozen=True, slots=True)
class Packet:
    """One Socket.IO packet, with binary data already in place.

    ``data`` is the decoded JSON payload with ``bytes`` where the wire had
    placeholders; ``None`` means no payload.  ``id`` is the ack id.

    A decoded binary packet comes back as ``EVENT``/``ACK`` (like the JS
    decoder): whether attachments were used is a wire detail, and encoding
    such a packet again picks the binary form automatically.  ``BINARY_*``
    types may still be constructed to force the ``N-`` header.

    Construction checks only the framing-relevant fields (``ValueError``):
    ``namespace`` starts with ``"/"`` and contains no ``","``; ``id`` is a
    non-negative int or ``None``.  Payload shape is checked by the decoder.
    """

    type: PacketType
    namespace: str = "/"
    data: Any = None
    id: int | None = None

    def __post_init__(self) -> None:
        if type(self.type) is not PacketType:
            object.__setattr__(self, "type", PacketType(self.type))
        _check_namespace(self.namespace)
        ack_id = self.id
        if ack_id is not None and (
            isinstance(ack_id, bool) or not isinstance(ack_id, int) or ack_id < 0
        ):
            raise ValueError(f"ack id must be a non-negative int, not {ack_id!r}")

    def encode(self) -> list[str | bytes]:
        """Encode to the messages to send: the text header, then attachments.

        Element 0 is the Socket.IO text (without the Engine.IO ``"4"``); any
        further elements are the binary attachments, to be sent as separate
        binary Engine.IO messages in this order.  ``EVENT``/``ACK`` data holding
        ``bytes``/``bytearray``/``memoryview`` anywhere (nested in lists, tuples
        or dicts) becomes ``BINARY_EVENT``/``BINARY_ACK``.  Raises
        :class:`TypeError` for data that is not JSON-serialisable (including
        binary data in other packet types).
        """
        ptype = self.type
        data = self.data
        if data is None:
            if ptype in _PLAIN_OF:
                return [_header(ptype, self.namespace, self.id, 0)]
            return [_header(ptype, self.namespace, self.id, None)]
        if ptype in _PLAIN_OF:
            body, attachments = _dumps_binary(data)
            return [_header(ptype, self.namespace, self.id, len(attachments)) + body, *attachments]
        try:
            body = _dumps(data).decode()
        except TypeError:
            if ptype not in _BINARY_OF:
                raise
            # orjson refuses bytes: only now pay for collecting attachments.
            body, attachments = _dumps_binary(data)
            if attachments:
                header = _header(_BINARY_OF[ptype], self.namespace, self.id, len(attachments))
                return [header + body, *attachments]
        return [_header(ptype, self.namespace, self.id, None) + body]

    @classmethod
    def connect_error(cls, namespace: str, message: str, data: Any = None) -> Packet:
        """Build ``CONNECT_ERROR``: ``{"message": message}`` plus ``"data"`` if given.

        e.g. ``connect_error("/admin", "Invalid namespace")`` encodes as
        ``4/admin,{"message":"Invalid namespace"}``.
        """
        payload: dict[str, Any] = {"message": message}
        if data is not None:
            payload["data"] = data
        return cls(PacketType.CONNECT_ERROR, namespace, payload)


def _check_namespace(namespace: str) -> None:
    # A "," inside the name would end it early on the wire and shift the rest.
    if not isinstance(namespace, str) or not namespace.startswith("/") or "," in namespace:
        raise ValueError(f"namespace must start with '/' and contain no ',': {namespace!r}")


def _header(ptype: PacketType, namespace: str, ack_id: int | None, attachments: int | None) -> str:
    parts = [str(ptype.value)]
    if attachments is not None:
        parts.append(f"{attachments}-")
    if namespace != "/":
        parts.append(namespace + ",")
    if ack_id is not None:
        parts.append(str(ack_id))
    return "".join(parts)


def _dumps_binary(data: Any) -> tuple[str, list[bytes]]:
    """Serialise ``data`` with placeholders for binary values, in one pass.

    orjson calls ``default`` for each value it cannot serialise, depth-first in
    document order, so placeholder numbers follow the same order as the JS
    ``deconstructPacket``.  Copying ``bytearray``/``memoryview`` to ``bytes``
    freezes the content the header refers to.
    """
    attachments: list[bytes] = []

    def default(obj: Any) -> Any:
        if isinstance(obj, _BINARY_TYPES):
            attachments.append(bytes(obj))
            return {"_placeholder": True, "num": len(attachments) - 1}
        raise TypeError(f"Type is not JSON serializable: {type(obj).__name__}")

    return _dumps(data, default=default).decode(), attachments


def encode_event(
    namespace: str, event: str, *args: Any, ack_id: int | None = None
) -> list[str | bytes]:
    """Encode an ``EVENT`` ``[event, *args]``: same output as :meth:`Packet.encode`.

    Hot path for fan-out: a plain event costs one ``orjson.dumps`` and one
    concatenation, no walk over the arguments.  Binary arguments are detected
    by orjson refusing them, and only then are attachments collected.
    """
    if not isinstance(event, str):
        raise TypeError(f"event name must be a str, not {type(event).__name__}")
    if ack_id is not None and (type(ack_id) is not int or ack_id < 0):
        raise ValueError(f"ack id must be a non-negative int, not {ack_id!r}")
    payload = [event, *args]
    try:
        body = _dumps(payload).decode()
    except TypeError:
        body, attachments = _dumps_binary(payload)
        if attachments:
            _check_namespace(namespace)
            header = _header(PacketType.BINARY_EVENT, namespace, ack_id, len(attachments))
            return [header + body, *attachments]
    if namespace == "/":
        if ack_id is None:
            return ["2" + body]
        return [f"2{ack_id}{body}"]
    _check_namespace(namespace)
    if ack_id is None:
        return [f"2{namespace},{body}"]
    return [f"2{namespace},{ack_id}{body}"]


# -- decoding ---------------------------------------------------------------------


def _is_digit(char: str) -> bool:
    # str.isdigit() accepts "²" and other non-ASCII digits; the wire does not.
    return "0" <= char <= "9"


def _validate_connect(has_payload: bool, data: Any, ack_id: int | None) -> str | None:
    if has_payload and not isinstance(data, dict):
        return "CONNECT payload must be a JSON object"
    return None


def _validate_disconnect(has_payload: bool, data: Any, ack_id: int | None) -> str | None:
    return "DISCONNECT packet must not carry a payload" if has_payload else None


def _validate_event(has_payload: bool, data: Any, ack_id: int | None) -> str | None:
    # The reserved-name check ("connect", …) is the server's concern, not ours.
    if not (isinstance(data, list) and data and isinstance(data[0], str)):
        return "EVENT payload must be a non-empty JSON array starting with the event name"
    return None


def _validate_ack(has_payload: bool, data: Any, ack_id: int | None) -> str | None:
    if ack_id is None:
        return "ACK packet has no ack id"
    if not isinstance(data, list):
        return "ACK payload must be a JSON array"
    return None


def _validate_connect_error(has_payload: bool, data: Any, ack_id: int | None) -> str | None:
    if not isinstance(data, dict | str):
        return "CONNECT_ERROR payload must be a JSON object or string"
    return None


_VALIDATORS: dict[PacketType, Callable[[bool, Any, int | None], str | None]] = {
    PacketType.CONNECT: _validate_connect,
    PacketType.DISCONNECT: _validate_disconnect,
    PacketType.EVENT: _validate_event,
    PacketType.ACK: _validate_ack,
    PacketType.CONNECT_ERROR: _validate_connect_error,
    PacketType.BINARY_EVENT: _validate_event,
    PacketType.BINARY_ACK: _validate_ack,
}


class Decoder:
    """Stateful: reassembles binary packets from a text header plus N attachment frames.

    Feed it every Socket.IO message of one connection in arrival order.  After a
    :class:`ProtocolError` the decoder forgets any pending packet, but the
    connection should be closed anyway, as the reference server does.
    """

    __slots__ = ("max_attachments", "max_ack_id_digits", "_pending", "_expected", "_buffers")

    def __init__(self, *, max_attachments: int = 10, max_ack_id_digits: int = 10) -> None:
        if max_attachments < 0 or max_ack_id_digits < 1:
            raise ValueError("max_attachments must be >= 0 and max_ack_id_digits >= 1")
        self.max_attachments = max_attachments
        self.max_ack_id_digits = max_ack_id_digits
        # (type, namespace, data with placeholders, id) of the binary packet being reassembled.
        self._pending: tuple[PacketType, str, Any, int | None] | None = None
        self._expected = 0
        # A list only while attachments are awaited: one decoder per connection, and most
        # connections never receive binary data (an empty list is 56 bytes each).
        self._buffers: list[bytes] | tuple[()] = ()

    @property
    def pending(self) -> bool:
        """True while a binary packet is waiting for more attachments."""
        return self._pending is not None

    def reset(self) -> None:
        """Drop any partially received binary packet."""
        self._pending = None
        self._expected = 0
        self._buffers = ()

    def feed(self, message: str | bytes) -> Packet | None:
        """Feed one message; return a complete :class:`Packet`, or ``None`` if incomplete.

        A ``str`` is a Socket.IO packet.  A ``BINARY_*`` header announcing N > 0
        attachments is remembered and ``None`` returned; each following
        ``bytes`` message is one attachment, and the last one yields the packet
        with placeholders replaced by the attachments, typed ``EVENT``/``ACK``.
        Raises :class:`ProtocolError` for malformed text, binary data with no
        packet pending, text while attachments are pending, and placeholders
        whose ``num`` is not an int in range.
        """
        if isinstance(message, str):
            if self._pending is not None:
                missing = self._expected - len(self._buffers)
                self.reset()
                raise ProtocolError(
                    f"got a text packet while waiting for {missing} binary attachment(s)"
                )
            return self._feed_text(message)
        if isinstance(message, _BINARY_TYPES):
            if self._pending is None:
                raise ProtocolError("got a binary attachment while no binary packet is pending")
            self._buffers.append(bytes(message))
            if len(self._buffers) < self._expected:
                return None
            pending, buffers = self._pending, self._buffers
            self.reset()
            return _assemble(pending, buffers)
        raise TypeError(f"Socket.IO message must be str or bytes, not {type(message)}")

    def _feed_text(self, text: str) -> Packet | None:
        if not text:
            raise ProtocolError("empty Socket.IO packet")
        ptype = _TYPE_BY_CHAR.get(text[0])
        if ptype is None:
            raise ProtocolError(f"unknown Socket.IO packet type {text[0]!r}")
        end = len(text)
        pos = 1

        attachments: int | None = None
        if ptype in _PLAIN_OF:
            start = pos
            while pos < end and _is_digit(text[pos]):
                pos += 1
            if pos == start or pos == end or text[pos] != "-":
                raise ProtocolError(f"{ptype.name} must start with the attachment count and '-'")
            # Compare lengths first so a huge digit string is never converted to int.
            if pos - start > len(str(self.max_attachments)) or (
                int(text[start:pos]) > self.max_attachments
            ):
                raise ProtocolError(
                    f"too many attachments: {text[start:pos]} > {self.max_attachments}"
                )
            attachments = int(text[start:pos])
            pos += 1

        namespace = "/"
        if pos < end and text[pos] == "/":
            # The namespace runs to the first "," (consumed) or to the end.
            comma = text.find(",", pos)
            if comma == -1:
                namespace, pos = text[pos:], end
            else:
                namespace, pos = text[pos:comma], comma + 1

        ack_id: int | None = None
        start = pos
        while pos < end and _is_digit(text[pos]):
            pos += 1
        if pos > start:
            if pos - start > self.max_ack_id_digits:
                raise ProtocolError(f"ack id longer than {self.max_ack_id_digits} digits")
            ack_id = int(text[start:pos])

        has_payload = pos < end
        data = None
        if has_payload:
            try:
                data = _loads(text[pos:])
            except orjson.JSONDecodeError as exc:
                raise ProtocolError(f"invalid JSON payload in {ptype.name} packet: {exc}") from None
        error = _VALIDATORS[ptype](has_payload, data, ack_id)
        if error is not None:
            raise ProtocolError(error)

        if attachments is None:
            return Packet(ptype, namespace, data, ack_id)
        if attachments == 0:
            # Labelled binary but nothing follows: still reject stray placeholders.
            return _assemble((ptype, namespace, data, ack_id), [])
        self._pending = (ptype, namespace, data, ack_id)
        self._expected = attachments
        self._buffers = []
        return None


def _assemble(pending: tuple[PacketType, str, Any, int | None], buffers: list[bytes]) -> Packet:
    ptype, namespace, data, ack_id = pending
    return Packet(_PLAIN_OF[ptype], namespace, _reconstruct(data, buffers), ack_id)


def _reconstruct(data: Any, buffers: list[bytes]) -> Any:
    """Replace placeholders in freshly decoded JSON, in place (we own it).

    Iterative rather than recursive so that any depth orjson accepts (1023)
    works regardless of how deep the caller's stack already is.
    """
    root = [data]
    stack: list[list[Any] | dict[str, Any]] = [root]
    while stack:
        container = stack.pop()
        items = enumerate(container) if isinstance(container, list) else container.items()
        for key, value in items:
            if isinstance(value, dict):
                # Same rule as the JS decoder: `_placeholder === true` marks a placeholder.
                if value.get("_placeholder") is True:
                    # Replacing the value of an existing key is safe while iterating.
                    container[key] = _attachment(value.get("num"), buffers)
                else:
                    stack.append(value)
            elif isinstance(value, list):
                stack.append(value)
    return root[0]


def _attachment(num: Any, buffers: list[bytes]) -> bytes:
    if isinstance(num, bool) or not isinstance(num, int) or not 0 <= num < len(buffers):
        raise ProtocolError(
            f"placeholder num {num!r} is not an attachment index (0..{len(buffers) - 1})"
        )
    return buffers[num]
