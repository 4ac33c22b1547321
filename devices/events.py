"""`machine:command` (v1): every state change of a command sent to a machine, to the
machine's room, registered beside the other events in `realtime.events.EVENT_SCHEMAS` (so the
schema tests see it) and published through the one door, `realtime.broadcast.publish`, after
commit. The monitor page keeps its list of the machine's commands live with it; a client
that missed one reads `GET /api/v1/machines/{id}/commands/` again.
"""

from __future__ import annotations

from typing import TypedDict

from realtime.broadcast import publish
from realtime.events import EVENT_SCHEMAS
from realtime.rooms import machine_room
from telemetry.selectors import iso8601
from vendhub.people import display_name

MACHINE_COMMAND = "machine:command"


class CommandTimestamps(TypedDict):
    createdAt: str  # ISO 8601, UTC with Z
    expiresAt: str
    deliveredAt: str | None  # the broker acknowledged the publish (PUBACK)
    answeredAt: str | None  # the device's reply, or the expiry


class CommandDocument(TypedDict):
    """A command as REST returns it and `machine:command` (v1) carries it."""

    commandId: str
    machineId: str
    kind: str  # devices.models.CommandKind
    params: dict
    state: str  # devices.models.CommandState
    result: dict  # the device's answer: {"ok": true} or {"ok": false, "error": "..."}
    sentBy: str | None  # the person who sent it (display name)
    timestamps: CommandTimestamps


EVENT_SCHEMAS[MACHINE_COMMAND] = CommandDocument


def command_document(command) -> CommandDocument:
    return {
        "commandId": str(command.pk), "machineId": str(command.machine_id),
        "kind": command.kind, "params": dict(command.params), "state": command.state,
        "result": dict(command.result),
        "sentBy": display_name(command.created_by) if command.created_by_id else None,
        "timestamps": {
            "createdAt": iso8601(command.created_at), "expiresAt": iso8601(command.expires_at),
            "deliveredAt": iso8601(command.delivered_at),
            "answeredAt": iso8601(command.answered_at),
        },
    }


def emit_machine_command(command) -> None:
    publish(machine_room(command.machine_id), MACHINE_COMMAND, command_document(command))
