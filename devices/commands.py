"""Commands to machines: sending one, and every state change after it.

A command is stored first (`queued`, with its expiry) and is its own outbox: a publisher
(devices/publisher.py, in `manage.py mqtt_commands`) claims queued rows and publishes them on
the machine's `commands` topic; the broker's PUBACK makes it `delivered`. The device answers
on its `replies` topic (`{"command": id, "ok": true}` or `{"command": id, "ok": false,
"error": "..."}`) → `acknowledged` / `failed`; the sweep makes a command nobody answered in
time `expired`. Each change is one conditional UPDATE (the state it leaves is in its WHERE),
so two processes never both move a command, and only the one that did emits
`machine:command`.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from devices.events import emit_machine_command
from devices.models import CommandKind, CommandState, MachineCommand
from machines import selectors as machine_selectors
from machines.models import Machine, MachineStatus
from machines.services import MachinePermissionDenied, set_machine_status
from sales.selectors import planogram_at
from sales.services import RecipeSpec, SelectionSpec, create_planogram_version

logger = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 300
MIN_TTL_SECONDS = 5
#: A day: a command older than that describes a situation that has changed.
MAX_TTL_SECONDS = 86_400
#: What an acknowledged maintenance command sets, as a manager's PATCH of the status would.
MAINTENANCE_STATUS = {CommandKind.ENTER_MAINTENANCE: MachineStatus.MAINTENANCE,
                      CommandKind.LEAVE_MAINTENANCE: MachineStatus.ONLINE}
#: States a device's answer may close (a late answer to an expired command changes nothing).
OPEN_STATES = (CommandState.QUEUED, CommandState.DELIVERED)


class CommandInvalid(ValueError):
    """The command is malformed; `errors` names the fields, as DRF's 400 does."""

    def __init__(self, errors: dict) -> None:
        super().__init__(errors)
        self.errors = errors


class CommandPermissionDenied(PermissionDenied):
    """Only managers of the machine's organization send commands (DRF answers 403)."""


class CommandsUnavailable(RuntimeError):
    """No broker is configured (`MQTT_URL`), so nothing would ever publish the command."""


NOT_A_MANAGER = _lazy("Only a manager of the organization may send commands to its "
                      "machines.")
NO_BROKER = _lazy("Commands to machines need the MQTT broker, which is not configured on "
                  "this server (MQTT_URL).")


def mqtt_configured() -> bool:
    return bool(getattr(settings, "MQTT_URL", ""))


def may_send(*, machine: Machine, actor) -> bool:
    """Managers (and admins) of the machine's organization."""
    return machine_selectors.is_manager_of(actor, machine.organization_id)


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def validate_command(*, machine: Machine, kind: Any, params: Any,
                     ttl_seconds: Any) -> dict:
    """The command's params, cleaned; CommandInvalid naming each bad field."""
    if kind not in CommandKind.values:
        raise CommandInvalid({"kind": [_("Unknown command: choose one of %(kinds)s.")
                                       % {"kinds": ", ".join(CommandKind.values)}]})
    if not (isinstance(ttl_seconds, int) and not isinstance(ttl_seconds, bool)
            and MIN_TTL_SECONDS <= ttl_seconds <= MAX_TTL_SECONDS):
        raise CommandInvalid({"ttlSeconds": [
            _("A whole number of seconds from %(low)d to %(high)d.")
            % {"low": MIN_TTL_SECONDS, "high": MAX_TTL_SECONDS}]})
    params = {} if params is None else params
    if not isinstance(params, dict):
        raise CommandInvalid({"params": [_("An object of the command's parameters.")]})
    if kind != CommandKind.SET_PRICE:
        if params:
            raise CommandInvalid({"params": [_("This command takes no parameters.")]})
        return {}
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(params) - {"selection", "price"})
    if unknown:
        errors["params"] = [_("Unknown parameters: %(names)s.") % {"names": ", ".join(unknown)}]
    selection = params.get("selection")
    planogram = planogram_at(machine)
    codes = {s.code for s in planogram.selections.all()} if planogram else set()
    if not isinstance(selection, str) or selection not in codes:
        errors["selection"] = [_("A selection code of the machine's current planogram.")
                               if planogram else _("This machine has no planogram.")]
    if not _positive_int(params.get("price")):
        errors["price"] = [_("A whole price greater than zero.")]
    if errors:
        raise CommandInvalid({"params": errors})
    return {"selection": selection, "price": params["price"]}


def send_command(*, machine: Machine, kind: str, params: Any, actor,
                 ttl_seconds: Any = DEFAULT_TTL_SECONDS) -> MachineCommand:
    """Queue `kind` for `machine`, sent by `actor` (a manager of its organization). The
    publisher sends it after the commit; `machine:command` announces it now (queued)."""
    if not may_send(machine=machine, actor=actor):
        raise CommandPermissionDenied(NOT_A_MANAGER)
    if not mqtt_configured():
        raise CommandsUnavailable(NO_BROKER)
    clean = validate_command(machine=machine, kind=kind, params=params, ttl_seconds=ttl_seconds)
    with transaction.atomic():
        command = MachineCommand.objects.create(
            organization_id=machine.organization_id, machine=machine, kind=kind, params=clean,
            created_by=actor, expires_at=timezone.now() + timedelta(seconds=ttl_seconds))
        emit_machine_command(command)
    return command


# -- the publisher's side -------------------------------------------------------------------


def _reloaded(pk) -> MachineCommand:
    return MachineCommand.objects.select_related("machine", "created_by").get(pk=pk)


def mark_delivered(command_id, *, now: datetime | None = None) -> bool:
    """The broker acknowledged the publish. False when the command had already moved on
    (answered first, or expired)."""
    with transaction.atomic():
        moved = MachineCommand.objects.filter(pk=command_id, state=CommandState.QUEUED).update(
            state=CommandState.DELIVERED, delivered_at=now or timezone.now(),
            claimed_until=None, updated_at=timezone.now())
        if moved:
            emit_machine_command(_reloaded(command_id))
    return bool(moved)


def expire_commands(*, now: datetime | None = None) -> int:
    """Open commands past their expiry become `expired` (a watchdog sweep check, and the
    publisher's loop); how many."""
    now = now or timezone.now()
    due = list(MachineCommand.objects.filter(state__in=OPEN_STATES, expires_at__lte=now)
               .values_list("pk", flat=True)[:1000])
    expired = 0
    for pk in due:
        with transaction.atomic():
            if MachineCommand.objects.filter(pk=pk, state__in=OPEN_STATES).update(
                    state=CommandState.EXPIRED, answered_at=now, claimed_until=None,
                    updated_at=now):
                expired += 1
                emit_machine_command(_reloaded(pk))
    return expired


# -- the device's answer --------------------------------------------------------------------


class BadReply(ValueError):
    """Not a reply this product understands."""


def parse_reply(payload: bytes | str) -> tuple[uuid.UUID, bool, str]:
    """(command id, ok, error) of a device's reply; BadReply otherwise."""
    try:
        document = json.loads(payload)
    except (TypeError, ValueError, UnicodeDecodeError) as exc:
        raise BadReply("not JSON") from exc
    if not isinstance(document, dict):
        raise BadReply("not an object")
    try:
        command_id = uuid.UUID(str(document.get("command")))
    except ValueError as exc:
        raise BadReply("command is not a command id") from exc
    ok = document.get("ok")
    if not isinstance(ok, bool):
        raise BadReply("ok is not a boolean")
    error = document.get("error") or ""
    return command_id, ok, str(error)[:500]


def record_reply(*, serial: str, payload: bytes | str,
                 now: datetime | None = None) -> MachineCommand | None:
    """A device's answer on its own `replies` topic (the broker lets a device publish only
    under its serial, so `serial` is who answered). The command must be one of that
    machine's: a device cannot close another machine's command. None when nothing changed
    (malformed, not its command, or already closed: QoS 1 may deliver a reply twice)."""
    try:
        command_id, ok, error = parse_reply(payload)
    except BadReply as exc:
        logger.warning("commands: ignored a reply of %s: %s", serial, exc)
        return None
    now = now or timezone.now()
    state = CommandState.ACKNOWLEDGED if ok else CommandState.FAILED
    with transaction.atomic():
        mine = MachineCommand.objects.filter(pk=command_id, machine__serial_number=serial)
        command = mine.select_for_update(of=("self",)).first()
        if command is None:
            logger.warning("commands: %s answered command %s, which is not its own",
                           serial, command_id)
            return None
        if command.state not in OPEN_STATES:
            return None
        if command.state == CommandState.QUEUED:
            # The answer overtook the publisher's PUBACK: the device has it, so it was
            # delivered; say so first, so a watcher sees every state in order.
            mine.update(state=CommandState.DELIVERED, delivered_at=now, updated_at=now)
            emit_machine_command(_reloaded(command_id))
        mine.update(state=state, answered_at=now, claimed_until=None, updated_at=now,
                    result={"ok": ok, **({"error": error} if error else {})})
        command = _reloaded(command_id)
        emit_machine_command(command)
    if state == CommandState.ACKNOWLEDGED:
        apply_acknowledged(command)
    return command


def apply_acknowledged(command: MachineCommand) -> None:
    """What the server does once the device carried the command out: maintenance is held
    or released as a manager's PATCH of the status does, in the sender's name; a new price
    is a new planogram version, so the vends at that price match the planogram."""
    if command.kind == CommandKind.SET_PRICE:
        _reprice(command)
        return
    status = MAINTENANCE_STATUS.get(command.kind)
    if status is None:
        return
    try:
        set_machine_status(machine=command.machine, status=status, actor=command.created_by)
    except MachinePermissionDenied:
        # The sender is no longer a manager there: the device is in maintenance, but the
        # status stays as it is until a manager sets it.
        logger.warning("commands: %s acknowledged, but its sender may no longer set the "
                       "status of %s", command.kind, command.machine)


def _reprice(command: MachineCommand) -> None:
    planogram = planogram_at(command.machine)
    code, price = command.params.get("selection"), command.params.get("price")
    if planogram is None or code not in {s.code for s in planogram.selections.all()}:
        # The planogram changed since the command was sent: the machine's new price has
        # no selection here to go with.
        logger.warning("commands: %s acknowledged, but %s has no selection %r any more",
                       command.kind, command.machine, code)
        return
    create_planogram_version(machine=command.machine, actor=command.created_by, selections=[
        SelectionSpec(s.code, s.product_id, price if s.code == code else s.price,
                      capacity=s.capacity, par_level=s.par_level,
                      recipe=tuple(RecipeSpec(r.ingredient_id, r.grams) for r in s.recipe.all()))
        for s in planogram.selections.all()])
