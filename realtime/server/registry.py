"""The connected sockets of a process by user: how a change of one user's rights (a
membership revoked, realtime/access.py) finds that user's sockets without a scan."""

from __future__ import annotations

from typing import Generic, TypeVar

S = TypeVar("S")


class SocketsByUser(Generic[S]):
    """user id -> that user's sockets in this process. Most users have one socket: it is
    kept as it is, and a set is made only for a second one (a process holds thousands of
    idle sockets, and each set would cost ~200 bytes)."""

    __slots__ = ("_sockets",)

    def __init__(self) -> None:
        self._sockets: dict[int, S | set[S]] = {}

    def __len__(self) -> int:
        return len(self._sockets)

    def add(self, user_id: int, socket: S) -> None:
        found = self._sockets.get(user_id)
        if found is None:
            self._sockets[user_id] = socket
        elif isinstance(found, set):
            found.add(socket)
        elif found is not socket:
            self._sockets[user_id] = {found, socket}

    def discard(self, user_id: int, socket: S) -> None:
        found = self._sockets.get(user_id)
        if found is socket:
            del self._sockets[user_id]
        elif isinstance(found, set):
            found.discard(socket)
            if not found:
                del self._sockets[user_id]

    def of(self, user_id: int) -> tuple[S, ...]:
        """The sockets of `user_id` (a copy: callers may disconnect them meanwhile)."""
        found = self._sockets.get(user_id)
        if found is None:
            return ()
        return tuple(found) if isinstance(found, set) else (found,)
