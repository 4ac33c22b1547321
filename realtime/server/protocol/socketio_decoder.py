"""Socket.IO v5 decoding: the stateful decoder that reassembles binary packets, and the
limits on what it may hold (realtime/server/protocol/socketio.py has the packets and encoding).

Pure code: no I/O, no asyncio, no Django. Every decode limit lives here: attachments per
packet, bytes of attachments per connection and per process (`ByteBudget`), ack-id length.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from .engineio import ProtocolError
from .socketio import _BINARY_TYPES, _PLAIN_OF, _TYPE_BY_CHAR, Packet, PacketType

__all__ = ["ByteBudget", "Decoder", "LimitExceeded"]

_loads = orjson.loads


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


class LimitExceeded(ProtocolError):
    """Input refused because it would exceed a limit, not because it is malformed: the
    server closes the connection as for any protocol error, and says which limit it hit."""

    def __init__(self, message: str, *, limit_name: str, limit: int) -> None:
        super().__init__(message)
        self.limit_name = limit_name
        self.limit = limit


class ByteBudget:
    """Bytes that several decoders may hold at once: the binary attachments of every
    connection of a process whose packet is not complete yet. A decoder takes its share
    before keeping an attachment and gives it back when the packet is complete or dropped.
    Plain counters, no locking: the decoders of one event loop share one budget."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError("limit must be >= 0")
        self.limit = limit
        self.used = 0

    def take(self, size: int) -> bool:
        """Reserve `size` bytes; False (nothing reserved) when that would exceed the limit."""
        if self.used + size > self.limit:
            return False
        self.used += size
        return True

    def give(self, size: int) -> None:
        self.used = max(0, self.used - size)


class Decoder:
    """Stateful: reassembles binary packets from a text header plus N attachment frames.

    Feed it every Socket.IO message of one connection in arrival order.  After a
    :class:`ProtocolError` the decoder forgets any pending packet, but the
    connection should be closed anyway, as the reference server does.

    What a decoder holds is bounded: at most ``max_attachments`` attachments per packet,
    at most ``max_attachment_bytes`` bytes of them, and, when a ``budget`` is given, its
    share of that :class:`ByteBudget`.  A packet over any of these raises
    :class:`LimitExceeded` as soon as the header or the attachment that exceeds it
    arrives, never after buffering it.  ``max_attachments`` may be changed between
    packets (e.g. 0 until the client authenticated).
    """

    __slots__ = ("max_attachments", "max_ack_id_digits", "max_attachment_bytes", "budget",
                 "_pending", "_expected", "_buffers", "_held")

    def __init__(self, *, max_attachments: int = 10, max_ack_id_digits: int = 10,
                 max_attachment_bytes: int = 1_000_000,
                 budget: ByteBudget | None = None) -> None:
        if max_attachments < 0 or max_ack_id_digits < 1 or max_attachment_bytes < 0:
            raise ValueError("max_attachments and max_attachment_bytes must be >= 0, "
                             "max_ack_id_digits >= 1")
        self.max_attachments = max_attachments
        self.max_ack_id_digits = max_ack_id_digits
        self.max_attachment_bytes = max_attachment_bytes
        self.budget = budget
        # (type, namespace, data with placeholders, id) of the binary packet being reassembled.
        self._pending: tuple[PacketType, str, Any, int | None] | None = None
        self._expected = 0
        # A list only while attachments are awaited: one decoder per connection, and most
        # connections never receive binary data (an empty list is 56 bytes each).
        self._buffers: list[bytes] | tuple[()] = ()
        #: Bytes of `_buffers`, taken from the budget.
        self._held = 0

    @property
    def pending(self) -> bool:
        """True while a binary packet is waiting for more attachments."""
        return self._pending is not None

    @property
    def held_bytes(self) -> int:
        """Bytes of attachments held for the packet being reassembled."""
        return self._held

    def reset(self) -> None:
        """Drop any partially received binary packet (and give its bytes back)."""
        self._pending = None
        self._expected = 0
        self._buffers = ()
        if self._held:
            if self.budget is not None:
                self.budget.give(self._held)
            self._held = 0

    def feed(self, message: str | bytes) -> Packet | None:
        """Feed one message; return a complete :class:`Packet`, or ``None`` if incomplete.

        A ``str`` is a Socket.IO packet.  A ``BINARY_*`` header announcing N > 0
        attachments is remembered and ``None`` returned; each following
        ``bytes`` message is one attachment, and the last one yields the packet
        with placeholders replaced by the attachments, typed ``EVENT``/``ACK``.
        Raises :class:`ProtocolError` for malformed text, binary data with no
        packet pending, text while attachments are pending, and placeholders
        whose ``num`` is not an int in range; :class:`LimitExceeded` for too many
        attachments or too many bytes of them.
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
            self._hold(len(message))
            self._buffers.append(bytes(message))
            if len(self._buffers) < self._expected:
                return None
            pending, buffers = self._pending, self._buffers
            self.reset()
            return _assemble(pending, buffers)
        raise TypeError(f"Socket.IO message must be str or bytes, not {type(message)}")

    def _hold(self, size: int) -> None:
        """Account for one more attachment of `size` bytes, or drop the packet and raise."""
        if self._held + size > self.max_attachment_bytes:
            self.reset()
            raise LimitExceeded(
                f"binary attachments over {self.max_attachment_bytes} bytes",
                limit_name="max_attachment_bytes", limit=self.max_attachment_bytes)
        budget = self.budget
        if budget is not None and not budget.take(size):
            self.reset()
            raise LimitExceeded(
                f"the process holds {budget.limit} bytes of pending attachments already",
                limit_name="max_pending_attachment_bytes", limit=budget.limit)
        self._held += size

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
                raise LimitExceeded(
                    f"too many attachments: {text[start:pos]} > {self.max_attachments}",
                    limit_name="max_attachments", limit=self.max_attachments,
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
