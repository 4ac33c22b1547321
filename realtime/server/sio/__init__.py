"""The Socket.IO v5 layer on top of Engine.IO sessions: namespaces, events, acks."""

from .connection import SocketIOConnection
from .namespace import ConnectionRefused, Namespace, Socket

__all__ = ["ConnectionRefused", "Namespace", "Socket", "SocketIOConnection"]
