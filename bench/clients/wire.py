"""A minimal RFC 6455 client: the upgrade request, masked client frames and an incremental
parser of server frames. Just enough for load generation; no extensions, no fragmentation
of outgoing frames."""

from __future__ import annotations

import base64
import os
import struct


def upgrade_request(host: str, port: int, path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def mask_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A final, masked client frame."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    key = os.urandom(4)
    repeated = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")
    return header + key + masked


def text(s: str) -> bytes:
    return mask_frame(s.encode())


CLOSE_FRAME = mask_frame(b"\x03\xe8", 0x8)


class FrameParser:
    """Feed bytes, get (opcode, payload) of every complete server frame."""

    __slots__ = ("buffer",)

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self.buffer
        buf += data
        frames = []
        pos = 0
        end = len(buf)
        while end - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            n = b1 & 0x7F
            head = 2
            if n == 126:
                if end - pos < 4:
                    break
                n = (buf[pos + 2] << 8) | buf[pos + 3]
                head = 4
            elif n == 127:
                if end - pos < 10:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            if b1 & 0x80:  # servers must not mask; tolerate it anyway
                head += 4
            if end - pos < head + n:
                break
            payload = bytes(buf[pos + head : pos + head + n])
            if b1 & 0x80:
                key = buf[pos + head - 4 : pos + head]
                payload = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
            frames.append((b0 & 0x0F, payload))
            pos += head + n
        if pos:
            del buf[:pos]
        return frames
