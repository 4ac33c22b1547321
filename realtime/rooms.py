"""Room names: parsing what clients ask for, and mapping rooms to channel-layer groups.

Public room names come from the reference design (`machine:{id}`, `machines:all`,
`user:{id}`, `org:{id}`, `tasks:{assigneeId}`). `machines:all` is per viewer: it stands for
the live map of *the viewer's* organizations, so internally it is one `map:{orgId}` room per
organization and a publisher targets `map_room(org_id)`. Nobody can name another
organization's map.

`tasks:{assigneeId}` is per viewer too: one `tasks:{assigneeId}:{orgId}` room per
organization whose tasks of that person the viewer may see (`tasks_room`).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from enum import StrEnum

MAX_ROOM_NAME_LENGTH = 64

#: Channels group names: ASCII alphanumerics, hyphens, underscores or periods, under 100 chars.
_GROUP_NAME_OK = re.compile(r"^[a-zA-Z0-9\-_.]{1,99}$")


class RoomKind(StrEnum):
    MACHINE = "machine"
    LIVE_MAP = "machines"  # the public name is "machines:all"
    MAP = "map"  # internal: the live map of one organization
    USER = "user"
    ORGANIZATION = "org"
    TASKS = "tasks"


class InvalidRoom(ValueError):
    """A room name that does not parse: unknown kind or malformed id."""


@dataclass(frozen=True, slots=True)
class Room:
    kind: RoomKind
    key: str = ""

    @property
    def name(self) -> str:
        if self.kind is RoomKind.LIVE_MAP:
            return "machines:all"
        return f"{self.kind.value}:{self.key}"


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidRoom(f"not a UUID: {value!r}") from None


def _user_id(value: str) -> str:
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise InvalidRoom(f"not a user id: {value!r}")
    return str(int(value))


_PARSERS = {
    RoomKind.MACHINE: _uuid,
    RoomKind.ORGANIZATION: _uuid,
    RoomKind.USER: _user_id,
    RoomKind.TASKS: _user_id,
}


def parse_room(name: object) -> Room:
    """Parse a room name sent by a client. Raises InvalidRoom with a precise reason."""
    if not isinstance(name, str) or not name:
        raise InvalidRoom("room must be a non-empty string")
    if len(name) > MAX_ROOM_NAME_LENGTH:
        raise InvalidRoom("room name too long")
    if name == "machines:all":
        return Room(RoomKind.LIVE_MAP)
    kind_name, sep, key = name.partition(":")
    try:
        kind = RoomKind(kind_name)
    except ValueError:
        raise InvalidRoom(f"unknown room kind: {kind_name!r}") from None
    parser = _PARSERS.get(kind)
    if not sep or parser is None:
        raise InvalidRoom(f"unknown room: {name!r}")
    return Room(kind, parser(key))


def machine_room(machine_id) -> str:
    return f"machine:{machine_id}"


def map_room(organization_id) -> str:
    """The live-map room of one organization (what `machines:all` subscribers are joined to)."""
    return f"map:{organization_id}"


def user_room(user_id) -> str:
    return f"user:{user_id}"


def organization_room(organization_id) -> str:
    return f"org:{organization_id}"


def tasks_room(assignee_id, organization_id) -> str:
    """The tasks of one assignee in one organization. `tasks:{assigneeId}` stands for one
    such room per organization the viewer may see that person's tasks in: a person who works
    for two organizations has two boards, and a manager of one sees only that one's cards."""
    return f"tasks:{assignee_id}:{organization_id}"


def group_name(room: str) -> str:
    """The channel-layer group of an internal room name: `machine:<uuid>` → `rt.machine.<uuid>`.

    The one room → group mapping. `:` becomes `.`, so the result stays in the Channels group
    alphabet (ASCII alphanumerics, `-`, `_`, `.`) and under 100 characters; anything else
    raises InvalidRoom rather than reaching the channel layer."""
    group = "rt." + room.replace(":", ".")
    if not _GROUP_NAME_OK.match(group):
        raise InvalidRoom(f"room {room!r} does not map to a valid group name")
    return group
