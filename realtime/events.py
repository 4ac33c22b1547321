"""Outbound Socket.IO events: one schema per event, one builder per schema, one emitter each.

Payload shapes are the reference design's (vendhub-realtime-design), unchanged, so
existing dashboards consume them as they are: no version key inside the payload. The schema
version is `EVENT_SCHEMA_VERSION`; a breaking change to any payload bumps it and is announced
to clients. `EVENT_SCHEMAS` maps each event name to its TypedDict, and tests check that every
emitted payload matches (tests/realtime/test_events.py).

Every producer emits through the `emit_*` functions here, which publish through
`realtime.broadcast.publish` (after the transaction commits). Payloads are built when the
emitter is called, so they show the object as it was at that point of the transaction.
"""

from __future__ import annotations

from contextlib import nullcontext
from datetime import datetime
from typing import Any, TypedDict

from django.conf import settings
from django.utils import timezone, translation

from realtime.broadcast import publish
from realtime.rooms import machine_room, map_room, organization_room, tasks_room, user_room
from telemetry.selectors import MachineTelemetryPayload, iso8601, machine_telemetry

#: Version of the payload schemas below. Not sent on the wire (the reference shapes have no
#: version field); bumped, and announced to clients, on any breaking change.
EVENT_SCHEMA_VERSION = 1

MACHINE_STATUS = "machine:status"
MACHINE_TELEMETRY = "machine:telemetry"
INVENTORY_LOW = "inventory:low"
NOTIFICATION = "notification"
NOTIFICATIONS_READ = "notifications:read"
TASK_UPDATED = "task:updated"
MACHINE_SALE = "machine:sale"
SALES_TODAY = "sales:today"
MACHINE_REVENUE = "machine:revenue"


class MachineStatusEvent(TypedDict):
    """`machine:status` (v1), to `machine:{id}` and the organization's live map."""

    machineId: str
    status: str  # "online" | "offline" | "maintenance" | "error"
    timestamp: str  # ISO 8601, when the status changed


class MachineTelemetryEvent(MachineTelemetryPayload):
    """`machine:telemetry` (v1), to `machine:{id}`: the `MachineTelemetry` document of
    `telemetry.selectors.machine_telemetry` (GET /api/v1/machines/{id}/telemetry)."""


class InventoryLowEvent(TypedDict):
    """`inventory:low` (v1), to `machine:{id}` and `org:{id}`: a bunker went under its
    threshold. The `BunkerLevel` fields, plus where and when."""

    machineId: str
    machineName: str
    bunkerId: str
    ingredientId: str
    ingredientName: str
    currentLevel: int  # grams
    maxLevel: int  # grams
    percentage: float
    lowLevelAlert: bool
    thresholdPercent: int
    timestamp: str  # ISO 8601, the reading that crossed


class NotificationEvent(TypedDict):
    """`notification` (v1), to `user:{recipientId}`: the reference `Notification`, as
    GET /api/v1/notifications/ serves it (plus `machineId`)."""

    id: str
    title: str
    message: str
    type: str  # "info" | "warning" | "error" | "success"
    priority: str  # "low" | "medium" | "high"
    read: bool
    createdAt: str
    machineId: str | None


class NotificationsReadEvent(TypedDict):
    """`notifications:read` (v1), to `user:{recipientId}`: notifications of that user changed
    read state in one bulk update ("mark all read", an admin action), so the user's other
    tabs and devices update their unread count. Not in the reference design."""

    ids: list[str]
    read: bool


class TaskUpdatedEvent(TypedDict):
    """`task:updated` (v1), to `tasks:{assigneeId}` (of the task's organization) and
    `org:{id}`: the task as
    GET /api/v1/tasks/{id}/ serves it."""

    id: str
    machine: str
    machineName: str
    assignee: int | None
    assigneeName: str | None
    kind: str
    status: str
    priority: str
    title: str
    notes: str
    dueAt: str | None
    createdAt: str
    updatedAt: str
    completedAt: str | None
    # Where to go and what to bring (the operator's phone board); beyond the reference shape.
    machineAddress: str
    machineLat: float | None
    machineLng: float | None
    bunker: str | None
    ingredientName: str | None
    refillGrams: int | None  # refill tasks with a bunker: capacity minus level
    # The language of a server-written title and notes (null: a person's own text).
    textLanguage: str | None


class MachineSaleEvent(TypedDict):
    """`machine:sale` (v1), to `machine:{id}`: one per accepted `POST /api/v1/sales/` (as
    `machine:telemetry` is one per batch), describing the latest of its new vends; `count`
    and `revenue` cover all of them. A retried request (only duplicates) sends nothing.
    Money: integers in the currency's smallest unit in use (UZS: sums)."""

    machineId: str
    selection: str
    productId: str | None  # None: the selection is not in the planogram of that time
    productName: str | None
    price: int
    paymentMethod: str  # "cash" | "card" | "mobile"
    timestamp: str  # ISO 8601, the latest new vend (the machine's lastSale)
    count: int  # new vends in the request
    revenue: int  # their total


class SalesTodayEvent(TypedDict):
    """`sales:today` (v1), to `org:{id}`: the organization's revenue and vends today (its
    time zone's day, from the daily rollups), after each accepted `POST /api/v1/sales/`."""

    organizationId: str
    revenue: int
    vends: int
    date: str  # YYYY-MM-DD


class MachineRevenueEvent(TypedDict):
    """`machine:revenue` (v1), to the organization's live map (`machines:all`): one
    machine's sales today after an accepted `POST /api/v1/sales/`, so the map and the fleet
    list stay current without joining each machine's room. Coalesced per machine and tick
    like `machine:status` (`machines:revenue`: one batch per tick for batched members)."""

    machineId: str
    revenueToday: int  # the machine's revenue on `date`, smallest currency unit (UZS: sums)
    vendsToday: int
    lastSaleAt: str | None  # ISO 8601, the machine's latest vend
    date: str  # YYYY-MM-DD, today in the organization's time zone


EVENT_SCHEMAS: dict[str, type] = {
    MACHINE_STATUS: MachineStatusEvent,
    MACHINE_TELEMETRY: MachineTelemetryEvent,
    INVENTORY_LOW: InventoryLowEvent,
    NOTIFICATION: NotificationEvent,
    NOTIFICATIONS_READ: NotificationsReadEvent,
    TASK_UPDATED: TaskUpdatedEvent,
    MACHINE_SALE: MachineSaleEvent,
    SALES_TODAY: SalesTodayEvent,
    MACHINE_REVENUE: MachineRevenueEvent,
}

# -- events the gateway sends itself (not published to rooms by producers) -----------------

MACHINES_SNAPSHOT = "machines:snapshot"
MACHINES_STATUS = "machines:status"
MACHINES_REVENUE = "machines:revenue"
RESYNC = "resync"
UNSUBSCRIBED = "unsubscribed"
AUTH_REVOKED = "auth:revoked"
AUTH_EXPIRED = "auth:expired"


class MachineMapPoint(TypedDict):
    """One machine of `machines:snapshot` (machines.selectors.machine_statuses_in)."""

    machineId: str
    name: str
    lat: float | None
    lng: float | None
    status: str
    lastSeenAt: str | None  # ISO 8601


class ResyncEvent(TypedDict):
    """`resync` (v1): events may have been lost (e.g. "redis-reconnected"), or what a
    subscription stands for changed ("access-changed"); refetch."""

    reason: str


class UnsubscribedEvent(TypedDict):
    """`unsubscribed` (v1) sent by the server on its own (the answer to a client's
    `unsubscribe` has no reason): the viewer may no longer see `room` ("access revoked")."""

    room: str
    reason: str


class AuthRevokedEvent(TypedDict):
    """`auth:revoked` (v1): the user was deactivated or deleted; the socket is
    disconnected right after it."""

    message: str


class AuthExpiredEvent(TypedDict):
    """`auth:expired` (v1): the access token ran out before an `auth:refresh`; the socket
    is disconnected right after it (the client reconnects with a new token)."""

    message: str


#: `machines:snapshot` (v1): sent to a socket right after it subscribed to `machines:all`,
#: every machine of the viewer's organizations. `machine:telemetry` doubles as the snapshot
#: of `machine:{id}`. `machines:status` (v1): the live map's updates of one tick, one entry
#: per machine (realtime/server/hub.py), then the recovery offset as the last argument;
#: `machines:revenue` (v1) likewise for `machine:revenue`.
DIRECT_EVENT_SCHEMAS: dict[str, Any] = {
    MACHINES_SNAPSHOT: list[MachineMapPoint],
    MACHINES_STATUS: list[MachineStatusEvent],
    MACHINES_REVENUE: list[MachineRevenueEvent],
    RESYNC: ResyncEvent,
    UNSUBSCRIBED: UnsubscribedEvent,
    AUTH_REVOKED: AuthRevokedEvent,
    AUTH_EXPIRED: AuthExpiredEvent,
}


# -- builders ----------------------------------------------------------------------------


def machine_status_event(machine, *, at: datetime | None = None) -> MachineStatusEvent:
    """`at` is when the status changed (the reading's time); now when not given."""
    return {
        "machineId": str(machine.pk),
        "status": machine.status,
        "timestamp": iso8601(at or timezone.now()),
    }


def machine_telemetry_event(machine) -> MachineTelemetryEvent:
    return machine_telemetry(machine)


def inventory_low_event(bunker, *, level: int, at: datetime) -> InventoryLowEvent:
    """`bunker` with its machine and ingredient loaded; `level` is the reported level."""
    capacity = bunker.capacity_grams
    return {
        "machineId": str(bunker.machine_id),
        "machineName": bunker.machine.name,
        "bunkerId": str(bunker.pk),
        "ingredientId": str(bunker.ingredient_id),
        "ingredientName": bunker.ingredient.name,
        "currentLevel": level,
        "maxLevel": capacity,
        "percentage": round(100.0 * level / capacity, 1) if capacity else 0.0,
        "lowLevelAlert": bunker.is_low_at(level),
        "thresholdPercent": bunker.low_level_threshold_percent,
        "timestamp": iso8601(at),
    }


def notification_event(notification) -> NotificationEvent:
    """In the recipient's language (their preference): `user:{id}` has one reader."""
    from notifications.selectors import language_of_user
    from notifications.serializers import NotificationSerializer

    with translation.override(language_of_user(notification.recipient_id)):
        return _plain(NotificationSerializer(notification).data)


def task_event(task, *, language: str | None = None) -> TaskUpdatedEvent:
    """The task's REST document, a server-written title and notes in `language` (None: the
    active language)."""
    from machines.serializers import TaskSerializer

    with translation.override(language) if language else nullcontext():
        return _plain(TaskSerializer(task).data)


def _plain(data: Any) -> dict:
    return {key: str(value) if key == "id" else value for key, value in data.items()}


# -- emitters ----------------------------------------------------------------------------


def emit_machine_status(machine, *, at: datetime | None = None) -> None:
    payload = machine_status_event(machine, at=at)
    publish(machine_room(machine.pk), MACHINE_STATUS, payload)
    publish(map_room(machine.organization_id), MACHINE_STATUS, payload)


def emit_machine_telemetry(machine, payload: MachineTelemetryEvent | None = None) -> None:
    publish(machine_room(machine.pk), MACHINE_TELEMETRY,
            payload if payload is not None else machine_telemetry_event(machine))


def emit_org_event(organization, event: str, data: Any) -> None:
    """Send `event` to everyone watching the organization (`org:{id}`), as the reference
    design's `emitOrgEvent(organizationId, event, data)`. `organization` is an Organization
    or its id. Only events with a registered schema (`EVENT_SCHEMAS`) may be sent, so no
    event reaches clients without a documented shape."""
    if event not in EVENT_SCHEMAS:
        raise ValueError(f"{event!r} has no schema in realtime.events.EVENT_SCHEMAS")
    publish(organization_room(getattr(organization, "pk", organization)), event, data)


def emit_machine_sale(machine_id, payload: MachineSaleEvent) -> None:
    publish(machine_room(machine_id), MACHINE_SALE, payload)


def emit_machine_revenue(organization_id, payload: MachineRevenueEvent) -> None:
    publish(map_room(organization_id), MACHINE_REVENUE, payload)


def emit_sales_today(payload: SalesTodayEvent) -> None:
    emit_org_event(payload["organizationId"], SALES_TODAY, payload)


def emit_inventory_low(bunker, *, level: int, at: datetime) -> None:
    payload = inventory_low_event(bunker, level=level, at=at)
    emit_org_event(bunker.machine.organization_id, INVENTORY_LOW, payload)
    publish(machine_room(bunker.machine_id), INVENTORY_LOW, payload)


def emit_notification(notification) -> None:
    publish(user_room(notification.recipient_id), NOTIFICATION, notification_event(notification))


def emit_notifications_read(*, recipient_id: int, ids: list, read: bool) -> None:
    payload: NotificationsReadEvent = {"ids": [str(pk) for pk in ids], "read": read}
    publish(user_room(recipient_id), NOTIFICATIONS_READ, payload)


def emit_task_updated(task, *, previous_assignee_id: int | None = None) -> None:
    """To the assignee's board, the previous assignee's (the task left it) and the org; a
    board is per organization (`tasks_room`), so a person's board in another organization
    never shows this organization's task.

    Rooms are shared, so a server-written title and notes (`task.server_written`) cannot be
    in every reader's language: a board's room gets them in its assignee's language (the
    operator whose phone it is), the organization's room in the site's default language;
    each payload names its `textLanguage`, and a dashboard in another language refetches
    the task over REST. A person's own text is the same for all: one payload."""
    from notifications.selectors import language_of_user

    default = task_event(task, language=settings.LANGUAGE_CODE)
    assignees = {task.assignee_id, previous_assignee_id} - {None}
    for assignee_id in sorted(assignees):
        payload = default
        if task.server_written:
            language = language_of_user(assignee_id)
            if language != settings.LANGUAGE_CODE:
                payload = task_event(task, language=language)
        publish(tasks_room(assignee_id, task.organization_id), TASK_UPDATED, payload)
    emit_org_event(task.organization_id, TASK_UPDATED, default)


# -- model signals (machines/signals.py, notifications/signals.py call these) --------------

_SEEN_STATUS = "_realtime_seen_status"
_SEEN_ASSIGNEE = "_realtime_seen_assignee_id"


def remember_machine_status(machine) -> None:
    """Cache the status as loaded, to tell on save whether it changed (deferred: unknown)."""
    setattr(machine, _SEEN_STATUS, machine.__dict__.get("status"))


def machine_saved(machine, *, created: bool, update_fields=None) -> None:
    """Emit `machine:status` when a save changed the status (not on creation).

    Services that change many statuses with a conditional UPDATE (ingestion, the offline
    watchdog) bypass save() and call `emit_machine_status` themselves.
    """
    if update_fields is not None and "status" not in update_fields:
        return
    status = machine.__dict__.get("status")
    seen = getattr(machine, _SEEN_STATUS, None)
    setattr(machine, _SEEN_STATUS, status)
    if created or status is None or status == seen:
        return
    emit_machine_status(machine)


def remember_task_assignee(task) -> None:
    setattr(task, _SEEN_ASSIGNEE, task.__dict__.get("assignee_id"))


def task_saved(task) -> None:
    previous = getattr(task, _SEEN_ASSIGNEE, None)
    setattr(task, _SEEN_ASSIGNEE, task.assignee_id)
    emit_task_updated(task, previous_assignee_id=previous)


def notification_saved(notification, *, created: bool) -> None:
    """Every saved notification reaches its recipient: a new one, and one marked read or
    unread, so the recipient's other tabs keep an accurate unread count."""
    emit_notification(notification)
