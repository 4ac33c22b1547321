"""Room names: what clients may ask for, and the one room → Channels group mapping."""

from __future__ import annotations

import re
import uuid

import pytest
from channels.layers import BaseChannelLayer

from realtime.rooms import (
    MAX_ROOM_NAME_LENGTH,
    InvalidRoom,
    Room,
    RoomKind,
    group_name,
    machine_room,
    map_room,
    organization_room,
    parse_room,
    tasks_room,
    user_room,
)

MACHINE = uuid.UUID("8a6e0804-2bd0-4672-b79d-d97027f9071a")
ORG = uuid.UUID("0f9d3c1e-5b7a-4c2e-9f1d-2a3b4c5d6e7f")
LONGEST_ID = "9" * 18


@pytest.mark.parametrize(
    ("name", "room"),
    [
        (f"machine:{MACHINE}", Room(RoomKind.MACHINE, str(MACHINE))),
        (f"machine:{str(MACHINE).upper()}", Room(RoomKind.MACHINE, str(MACHINE))),
        ("machines:all", Room(RoomKind.LIVE_MAP)),
        ("user:42", Room(RoomKind.USER, "42")),
        ("user:007", Room(RoomKind.USER, "7")),
        (f"org:{ORG}", Room(RoomKind.ORGANIZATION, str(ORG))),
        ("tasks:42", Room(RoomKind.TASKS, "42")),
    ],
)
def test_parse_room_accepts_the_public_room_kinds(name, room):
    assert parse_room(name) == room


def test_parsed_rooms_have_canonical_names():
    assert parse_room(f"machine:{str(MACHINE).upper()}").name == f"machine:{MACHINE}"
    assert parse_room("user:007").name == "user:7"
    assert parse_room("machines:all").name == "machines:all"


@pytest.mark.parametrize(
    "name",
    [
        "", None, 42, ["machine:x"], {"room": "user:1"},
        "machine", "machine:", "machine:42", "machine:not-a-uuid", f"machine:{MACHINE}:extra",
        "machines", "machines:", "machines:mine", "machines:ALL",
        f"map:{ORG}",  # internal: nobody names another organization's live map
        "user:", "user:me", "user:-1", "user:1.5", "user:١٢", "user:²", "user: 1",
        "user:" + "9" * 19,
        f"org:{ORG}x", "org:1", "tasks:abc", "tasks:",
        "unknown:1", ":1", "Machine:" + str(MACHINE), "x" * (MAX_ROOM_NAME_LENGTH + 1),
    ],
)
def test_parse_room_refuses_unknown_or_malformed_names(name):
    with pytest.raises(InvalidRoom):
        parse_room(name)


def all_internal_rooms() -> list[str]:
    return [machine_room(MACHINE), map_room(ORG), user_room(LONGEST_ID),
            organization_room(ORG), tasks_room(LONGEST_ID, ORG), user_room(1), tasks_room(1, ORG)]


@pytest.mark.parametrize("room", all_internal_rooms())
def test_every_room_maps_to_a_valid_channels_group_name(room):
    group = group_name(room)
    assert BaseChannelLayer().require_valid_group_name(group)
    assert re.fullmatch(r"[a-zA-Z0-9\-_.]+", group)
    assert len(group) < 100


def test_group_names_follow_the_room_names():
    assert group_name(machine_room(MACHINE)) == f"rt.machine.{MACHINE}"
    assert group_name(map_room(ORG)) == f"rt.map.{ORG}"
    assert group_name(user_room(7)) == "rt.user.7"
    assert group_name(organization_room(ORG)) == f"rt.org.{ORG}"
    assert group_name(tasks_room(7, ORG)) == f"rt.tasks.7.{ORG}"


def test_the_mapping_is_one_to_one():
    rooms = all_internal_rooms() + [user_room(7), tasks_room(7, ORG), machine_room(uuid.uuid4())]
    assert len({group_name(room) for room in rooms}) == len(set(rooms))
    # Different kinds with the same id never share a group.
    assert group_name(user_room(7)) != group_name(tasks_room(7, ORG))
    assert group_name(map_room(ORG)) != group_name(organization_room(ORG))


def test_the_longest_public_room_name_fits_a_group_name():
    longest = f"machine:{MACHINE}"
    assert len(longest) <= MAX_ROOM_NAME_LENGTH
    assert len(group_name(longest)) < 100


@pytest.mark.parametrize("room", ["machine:a b", "user:é", "x" * 100, "room/with/slash", "a:" * 50])
def test_rooms_outside_the_group_alphabet_or_length_are_refused(room):
    with pytest.raises(InvalidRoom):
        group_name(room)


def test_every_parsed_room_maps_to_a_group():
    for name in (f"machine:{MACHINE}", "user:" + LONGEST_ID, f"org:{ORG}", "tasks:" + LONGEST_ID):
        room = parse_room(name)
        assert BaseChannelLayer().require_valid_group_name(group_name(room.name))
