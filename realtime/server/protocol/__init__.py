"""Pure Engine.IO v4 / Socket.IO v5 wire codec (no I/O, no Django).

The two layers both define ``Packet`` and ``PacketType``; import the modules
(``from realtime.server.protocol import engineio, socketio``) or the prefixed aliases
below.
"""

from . import engineio, socketio
from .engineio import SEPARATOR, ProtocolError, decode_payload, encode_payload, open_packet
from .engineio import Packet as EngineIOPacket
from .engineio import PacketType as EngineIOPacketType
from .socketio import Packet as SocketIOPacket
from .socketio import PacketType as SocketIOPacketType
from .socketio import encode_event
from .socketio_decoder import Decoder

__all__ = [
    "SEPARATOR",
    "Decoder",
    "EngineIOPacket",
    "EngineIOPacketType",
    "ProtocolError",
    "SocketIOPacket",
    "SocketIOPacketType",
    "decode_payload",
    "encode_event",
    "encode_payload",
    "engineio",
    "open_packet",
    "socketio",
]
