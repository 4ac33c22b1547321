"""Socket.IO v5 wire codec: packets, binary attachments and their encoding; the stateful
decoder and its limits are in socketio_decoder.py (re-exported here).

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
from dataclasses import dataclass
from typing import Any

import orjson

from .engineio import ProtocolError

__all__ = [
    "Packet",
    "PacketType",
    "ProtocolError",
    "encode_event",
]

_BINARY_TYPES = (bytes, bytearray, memoryview)
_dumps = orjson.dumps


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

