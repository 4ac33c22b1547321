"""A minimal MQTT 3.1.1 client codec: the packets a device sends (CONNECT, PUBLISH at QoS 1,
PUBACK, SUBSCRIBE, PINGREQ, DISCONNECT) and an incremental parser of what a broker sends.

Enough for load generation, and cheap enough that one process holds thousands of devices:
a paho or aiomqtt client per connection costs a thread or a task tree and its buffers each.
No MQTT 5 properties (the ingestion worker answers 3.1.1 devices the same way, without a
correlation), no QoS 2, no will.
"""

from __future__ import annotations

import struct

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 12, 13, 14

PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"


def _length(n: int) -> bytes:
    """The fixed header's remaining length (a base-128 varint)."""
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return struct.pack("!H", len(data)) + data


def connect_packet(client_id: str, *, username: str | None = None,
                   password: str | None = None, clean: bool = True,
                   keepalive: int = 60) -> bytes:
    flags = (0x02 if clean else 0) | (0x80 if username is not None else 0) \
        | (0x40 if password is not None else 0)
    body = _string("MQTT") + bytes((4, flags)) + struct.pack("!H", keepalive) + _string(client_id)
    if username is not None:
        body += _string(username)
    if password is not None:
        body += _string(password)
    return b"\x10" + _length(len(body)) + body


def publish_packet(topic: str | bytes, payload: bytes, packet_id: int) -> bytes:
    """A QoS 1 PUBLISH."""
    body = _string(topic) + struct.pack("!H", packet_id) + payload
    return b"\x32" + _length(len(body)) + body


def puback_packet(packet_id: int) -> bytes:
    return b"\x40\x02" + struct.pack("!H", packet_id)


def subscribe_packet(topic: str, packet_id: int, qos: int = 1) -> bytes:
    body = struct.pack("!H", packet_id) + _string(topic) + bytes((qos,))
    return b"\x82" + _length(len(body)) + body


class Parser:
    """Feed bytes, get complete packets as (type, flags, body)."""

    __slots__ = ("buffer",)

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, int, bytes]]:
        buf = self.buffer
        buf += data
        packets, pos, end = [], 0, len(buf)
        while end - pos >= 2:
            length, shift, i, complete = 0, 0, pos + 1, False
            while i < end and shift <= 21:
                byte = buf[i]
                i += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    complete = True
                    break
            if not complete or end - i < length:
                break
            packets.append((buf[pos] >> 4, buf[pos] & 0x0F, bytes(buf[i:i + length])))
            pos = i + length
        if pos:
            del buf[:pos]
        return packets


def parse_publish(flags: int, body: bytes) -> tuple[str, int, bytes]:
    """(topic, packet id or 0 at QoS 0, payload) of a PUBLISH's body."""
    (size,) = struct.unpack_from("!H", body)
    topic = body[2:2 + size].decode()
    pos = 2 + size
    packet_id = 0
    if flags & 0x06:
        (packet_id,) = struct.unpack_from("!H", body, pos)
        pos += 2
    return topic, packet_id, body[pos:]


def packet_id_of(body: bytes) -> int:
    """The packet id a PUBACK / SUBACK answers."""
    return struct.unpack_from("!H", body)[0]
