"""The product namespace: JWT-authenticated dashboards subscribing to authorized rooms.

The namespace parses, asks realtime.authentication / realtime.authorization, and joins
rooms through the hub. It holds no business rules.

Authorization is not decided once: when a user's memberships change (realtime/access.py)
and on `auth:refresh`, every subscription of the affected sockets is authorized again
(`reauthorize`), and a room the viewer may no longer see is left at once.

Longer than the project's ~400 lines on purpose: the subscribe, unsubscribe and
re-authorization handlers share the socket's subscription bookkeeping and must be read
together; the batched loads and the expiry clock already live in their own modules.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import weakref
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.db import DatabaseError

from machines.selectors import machine_statuses_in
from notifications.services import remember_language_if_unset
from telemetry.selectors import machines_telemetry

from .access import VIEWERS_CHANGED
from .authentication import (
    INACTIVE_USER,
    AuthenticationFailed,
    decode_access_token,
    requested_language,
    token_from,
)
from .authorization import (
    RoomRefused,
    Viewer,
    load_viewers,
    machine_organizations,
    machine_rooms,
    rooms_known_to_viewer,
    rooms_to_join,
    sees_machine_of,
)
from .events import (
    AUTH_EXPIRED,
    AUTH_REVOKED,
    MACHINE_TELEMETRY,
    MACHINES_SNAPSHOT,
    RESYNC,
    UNSUBSCRIBED,
)
from .rooms import InvalidRoom, Room, RoomKind, parse_room
from .server.batching import BatchedLoad
from .server.conf import realtime_config
from .server.engine.session import CloseReason
from .server.expiry import ExpiryClock
from .server.hub import get_hub
from .server.interning import SharedValues, interned
from .server.registry import SocketsByUser
from .server.sio import ConnectionRefused, Namespace, Socket

logger = logging.getLogger(__name__)

#: Work running in the background (a reference, so the tasks are not collected).
_background: set[asyncio.Task] = set()


def _in_background(coroutine) -> None:
    task = asyncio.create_task(coroutine)
    _background.add(task)
    task.add_done_callback(_background.discard)


_remember_language = database_sync_to_async(remember_language_if_unset)

def _map_snapshots(organization_sets: frozenset[frozenset[str]]) -> dict:
    return {orgs: machine_statuses_in(orgs) for orgs in organization_sets}


_viewers = BatchedLoad(database_sync_to_async(load_viewers), name="viewers")
_map_snapshot = BatchedLoad(database_sync_to_async(_map_snapshots), name="map_snapshot")
#: Machine rooms asked for together (a thousand monitor pages reloading) share one
#: authorization read and one snapshot read: a read per subscribe, each waiting its turn on
#: the one database thread, took 7.6 s for 1,000 subscribers.
_machine_organization = BatchedLoad(database_sync_to_async(machine_organizations),
                                    name="machine_organization")
_machine_snapshot = BatchedLoad(database_sync_to_async(machines_telemetry),
                                name="machine_snapshot")


async def _authenticate(token: str | None) -> tuple[float, Viewer]:
    """Raises AuthenticationFailed, or DatabaseError when PostgreSQL is unreachable."""
    identity = decode_access_token(token)
    viewer = await _viewers.load(identity.user_id)
    if viewer is None:
        raise AuthenticationFailed(INACTIVE_USER)
    return identity.expires_at, viewer


@database_sync_to_async
def _authorize_with_database(viewer: Viewer, room: Room) -> list[str]:
    return rooms_to_join(viewer, room)


async def _authorize(viewer: Viewer, room: Room) -> list[str]:
    """The internal rooms of `room` for `viewer`, or RoomRefused: a read only for the
    rooms that need one (machine rooms, batched; another user's task room)."""
    rooms = rooms_known_to_viewer(viewer, room)
    if rooms is not None:
        return rooms
    if room.kind is RoomKind.MACHINE:
        return machine_rooms(viewer, room, await _machine_organization.load(room.key))
    return await _authorize_with_database(viewer, room)


async def _snapshot(viewer: Viewer, room: Room) -> tuple[str, Any] | None:
    """(event, payload) that brings a new subscriber of `room` up to date, or None."""
    if room.kind is RoomKind.MACHINE:
        found = await _machine_snapshot.load(room.key)
        if found is None or not sees_machine_of(viewer, found[0]):
            return None  # deleted, or moved to another organization since the join
        return MACHINE_TELEMETRY, found[1]
    if room.kind is RoomKind.LIVE_MAP:
        return MACHINES_SNAPSHOT, await _map_snapshot.load(viewer.organization_ids)
    return None


#: The internal rooms of a subscription as sockets keep them: one tuple of interned names
#: per distinct subscription (only authorized rooms get here, so there are few).
_room_tuples = SharedValues(lambda rooms: tuple(interned(rooms)))


def _shared(rooms: list[str]) -> tuple[str, ...]:
    return _room_tuples(tuple(rooms))


def _wants_batches(data: Any, room: Room) -> bool:
    """`{room: "machines:all", batch: true}`: the live map's updates as one
    `machines:status` batch per tick (the dashboard) instead of one `machine:status` per
    machine (the reference design's client, the default)."""
    return room.kind is RoomKind.LIVE_MAP and isinstance(data, dict) and data.get("batch") is True


def _refusal(event: str, room: Any, message: str) -> dict:
    return {"event": "error", "data": {"request": event, "room": room, "message": message}}


#: The `reason` of an `unsubscribed` the server sends on its own: the viewer lost access.
ACCESS_REVOKED = "access revoked"


@dataclass(slots=True)
class _LoopState:
    """What the namespace keeps per event loop (tests run several)."""

    clock: ExpiryClock
    sockets: SocketsByUser


class FleetNamespace(Namespace):
    name = "/"

    def __init__(self) -> None:
        self.config = realtime_config()
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary())

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None:
            state = self._states[loop] = _LoopState(ExpiryClock(self._expire), SocketsByUser())
            get_hub().on_control(VIEWERS_CHANGED, self._on_viewers_changed)
        return state

    def _clock(self) -> ExpiryClock:
        return self._state().clock

    async def on_connect(self, socket: Socket, auth: dict | None) -> None:
        try:
            expires_at, viewer = await _authenticate(token_from(auth, socket.scope))
        except AuthenticationFailed as exc:
            raise ConnectionRefused(str(exc)) from None
        except DatabaseError as exc:  # PostgreSQL down: a clear refusal, the client retries
            logger.warning("socket %s: cannot authenticate, database unavailable: %s",
                           socket.sid, exc)
            raise ConnectionRefused("Service temporarily unavailable, try again") from None
        if viewer.language is None:
            # Events to the user (notifications) are written in their language: remember
            # the one their browser reads until they choose one with the switcher.
            language = requested_language(socket.scope)
            if language is not None:
                _in_background(_remember_language(user_id=viewer.user_id, language=language))
        # No "requests" list until the first room request (`_over_rate_limit`).
        socket.data["viewer"] = viewer
        socket.data["subscriptions"] = {}
        self._arm_expiry(socket, expires_at)
        self._state().sockets.add(viewer.user_id, socket)
        # The process's channel must be in the control group before the socket can miss
        # a revocation: started here, not at the first subscribe.
        await get_hub().start()

    async def on_disconnect(self, socket: Socket, reason: str) -> None:
        second = socket.data.pop("expires", None)
        if second is not None:
            self._clock().disarm(socket, second)
        viewer = socket.data.get("viewer")
        if viewer is not None:
            self._state().sockets.discard(viewer.user_id, socket)

    def unacknowledged_result(self, socket: Socket, event: str, result: Any) -> None:
        """A client written for a NestJS gateway emits `subscribe` without an ack callback
        and listens for the answer as an event: a returned `{event, data}` is emitted, as
        NestJS sends a handler's `WsResponse`."""
        if isinstance(result, dict) and isinstance(result.get("event"), str) and (
                "data" in result):
            socket.emit(result["event"], result["data"])

    # -- connection state recovery (realtime/server/sio/recovery.py) --------------------------

    recoverable = True

    def park_state(self, socket: Socket) -> dict:
        return {"user_id": socket.data["viewer"].user_id,
                "subscriptions": sorted(socket.data["subscriptions"]),
                "batched": sorted(socket.data.get("batched", ()))}

    async def restore_state(self, socket: Socket, state: dict) -> bool:
        """Re-subscribe a recovering socket (already authenticated by `on_connect`) to its
        parked rooms, each authorized again: a room the viewer may no longer see while it
        was away is not restored."""
        viewer: Viewer = socket.data["viewer"]
        if state.get("user_id") != viewer.user_id:
            return False
        subscriptions: dict[str, tuple[str, ...]] = socket.data["subscriptions"]
        batched = [name for name in state.get("batched") or () if isinstance(name, str)]
        if batched:
            socket.data["batched"] = frozenset(batched)
        for name in state.get("subscriptions") or ():
            try:
                room = parse_room(name)
                rooms = await _authorize(viewer, room)
            except (InvalidRoom, RoomRefused) as exc:
                logger.info("socket %s: room %s not restored: %s", socket.sid, name, exc)
                continue
            rooms = _shared(rooms)
            for internal in rooms:
                await socket.join(internal, batched=name in batched)
            subscriptions[sys.intern(room.name)] = rooms
        return True

    def forget_state(self, socket: Socket) -> None:
        socket.data["subscriptions"] = {}

    # -- token lifetime --------------------------------------------------------------

    def _arm_expiry(self, socket: Socket, expires_at: float) -> None:
        socket.data["expires"] = self._clock().arm(socket, expires_at,
                                                   socket.data.get("expires"))

    def _expire(self, socket: Socket) -> None:
        socket.data.pop("expires", None)
        if socket.disconnected:
            return
        logger.info("socket %s: access token expired, disconnecting", socket.sid)
        socket.emit(AUTH_EXPIRED, {"message": "Access token expired: reconnect with a new one"})
        socket.disconnect()

    async def on_auth_refresh(self, socket: Socket, data: Any = None) -> dict:
        """`auth:refresh` {token}: extend the socket's life with a fresh access token."""
        token = data.get("token") if isinstance(data, dict) else None
        try:
            expires_at, viewer = await _authenticate(token)
        except AuthenticationFailed as exc:
            return {"event": "error", "data": {"request": "auth:refresh", "message": str(exc)}}
        if viewer.user_id != socket.data["viewer"].user_id:
            return {"event": "error",
                    "data": {"request": "auth:refresh", "message": "token is for another user"}}
        self._arm_expiry(socket, expires_at)
        # A fresh token is no fresh right: what the socket is subscribed to is checked again.
        await self.reauthorize(socket, viewer)
        return {"event": "auth:refreshed", "data": {"expiresAt": int(expires_at)}}

    # -- rights that change while the socket is open (realtime/access.py) ----------------

    def _on_viewers_changed(self, data: Any) -> None:
        """Control message: the rights of `data["userIds"]` changed somewhere."""
        user_ids = data.get("userIds") if isinstance(data, dict) else None
        if not isinstance(user_ids, list):
            logger.warning("ignored a %s control message without userIds", VIEWERS_CHANGED)
            return
        _in_background(self.reauthorize_users(
            [user_id for user_id in user_ids if isinstance(user_id, int)]))

    async def reauthorize_users(self, user_ids: list[int]) -> None:
        """Authorize again every subscription that depended on these users' rights: their
        own sockets', and those of the sockets watching their task boards (a manager's
        view of a person who left the manager's organization)."""
        state = self._state()
        affected: dict[Socket, None] = {}
        for user_id in user_ids:
            affected.update(dict.fromkeys(state.sockets.of(user_id)))
        prefixes = tuple(f"{RoomKind.TASKS.value}:{user_id}:" for user_id in user_ids)
        for room, members in tuple(get_hub().members.items()):
            if room.startswith(prefixes):
                affected.update(dict.fromkeys(m for m in members if isinstance(m, Socket)))
        for socket in affected:
            if socket.disconnected:
                continue
            try:
                viewer = await _viewers.load(socket.data["viewer"].user_id)
                await self.reauthorize(socket, viewer)
            except Exception:
                # Rights could not be checked (database down): drop the socket rather than
                # let it keep rooms it may have lost; the client reconnects and is checked.
                logger.exception("socket %s: could not re-authorize, disconnecting", socket.sid)
                socket.disconnect()

    async def reauthorize(self, socket: Socket, viewer: Viewer | None) -> None:
        """Give `socket` the rights of `viewer` (freshly loaded; None: the user is gone or
        deactivated): each subscription is authorized again, rooms it no longer stands for
        are left and new ones joined; a subscription refused now is dropped and the client
        told with `unsubscribed` `{room, reason}`; one whose extent changed (the live map
        of one organization fewer) gets `resync`, so the page refetches what it shows."""
        if viewer is None:
            logger.info("socket %s: user deactivated or deleted, disconnecting", socket.sid)
            socket.emit(AUTH_REVOKED, {"message": INACTIVE_USER})
            socket.disconnect()
            return
        socket.data["viewer"] = viewer
        subscriptions: dict[str, tuple[str, ...]] = socket.data["subscriptions"]
        before = set(socket.rooms)
        revoked: list[str] = []
        changed = False
        for name, rooms in tuple(subscriptions.items()):
            try:
                now = _shared(await _authorize(viewer, parse_room(name)))
            except RoomRefused:
                del subscriptions[name]
                revoked.append(name)
                continue
            if now != rooms:
                subscriptions[name] = now
                changed = True
        keep = {internal: name for name, rooms in subscriptions.items() for internal in rooms}
        batched = socket.data.get("batched", ())
        for internal in keep.keys() - before:
            await socket.join(internal, batched=keep[internal] in batched)
        for internal in before - keep.keys():
            await socket.leave(internal)
        for name in revoked:
            logger.info("socket %s: access to %s revoked", socket.sid, name)
            socket.emit(UNSUBSCRIBED, {"room": name, "reason": ACCESS_REVOKED})
        if changed:
            socket.emit(RESYNC, {"reason": "access-changed"})

    # -- rooms -----------------------------------------------------------------------

    def _over_rate_limit(self, socket: Socket) -> bool:
        now = time.monotonic()
        recent = [t for t in socket.data.get("requests", ()) if now - t < 1.0]
        recent.append(now)
        socket.data["requests"] = recent
        return len(recent) > self.config.max_room_requests_per_second

    async def on_subscribe(self, socket: Socket, data: Any = None) -> dict:
        room_name = data.get("room") if isinstance(data, dict) else None
        if self._over_rate_limit(socket):
            logger.warning("socket %s: subscribe flood, closing the connection", socket.sid)
            socket.connection.engine.close(CloseReason.FORCED.value)
            return _refusal("subscribe", room_name, "too many requests")
        try:
            room = parse_room(room_name)
        except InvalidRoom as exc:
            return _refusal("subscribe", room_name, f"invalid room: {exc}")
        subscriptions: dict[str, tuple[str, ...]] = socket.data["subscriptions"]
        if room.name in subscriptions:
            return {"event": "subscribed", "data": {"room": room.name}}
        if len(socket.rooms) >= self.config.max_rooms_per_socket:
            return _refusal("subscribe", room.name, "too many rooms")
        viewer = socket.data["viewer"]
        try:
            rooms = _shared(await _authorize(viewer, room))
        except RoomRefused as exc:
            return _refusal("subscribe", room.name, str(exc))
        batched = _wants_batches(data, room)
        joined: list[str] = []
        try:
            for internal in rooms:
                await socket.join(internal, batched=batched)
                joined.append(internal)
        except Exception:
            logger.exception("socket %s: could not join %s", socket.sid, room.name)
            for internal in joined:
                if not any(internal in other for other in subscriptions.values()):
                    await socket.leave(internal)
            return _refusal("subscribe", room.name, "temporarily unavailable, try again")
        subscriptions[sys.intern(room.name)] = rooms
        if batched:
            socket.data["batched"] = socket.data.get("batched", frozenset()) | {room.name}
        if socket.data["viewer"] is not viewer:
            # The viewer's rights changed while this room was being authorized: the
            # re-authorization did not see this subscription yet, so check it again.
            await self.reauthorize(socket, socket.data["viewer"])
            if room.name not in subscriptions:
                return _refusal("subscribe", room.name, ACCESS_REVOKED)
        await self._send_snapshot(socket, room)
        return {"event": "subscribed", "data": {"room": room.name}}

    async def _send_snapshot(self, socket: Socket, room: Room) -> None:
        """The room's current state, to this socket only, right after its `subscribed`
        answer. Read after the join, so no update is missed between the two; a failed read
        costs only the snapshot (the client still has REST)."""
        try:
            snapshot = await _snapshot(socket.data["viewer"], room)
        except DatabaseError as exc:
            logger.warning("socket %s: no snapshot of %s: %s", socket.sid, room.name, exc)
            return
        except Exception:
            logger.exception("socket %s: no snapshot of %s", socket.sid, room.name)
            return
        if snapshot is not None:
            event, payload = snapshot
            socket.after_ack(lambda: socket.emit(event, payload))

    async def on_unsubscribe(self, socket: Socket, data: Any = None) -> dict:
        room_name = data.get("room") if isinstance(data, dict) else None
        if self._over_rate_limit(socket):
            socket.connection.engine.close(CloseReason.FORCED.value)
            return _refusal("unsubscribe", room_name, "too many requests")
        try:
            # The canonical name: `machine:<UUID>` in capitals was subscribed as lower case.
            room_name = parse_room(room_name).name
        except InvalidRoom as exc:
            return _refusal("unsubscribe", room_name, f"invalid room: {exc}")
        rooms = socket.data["subscriptions"].pop(room_name, None)
        if room_name in socket.data.get("batched", ()):
            socket.data["batched"] = socket.data["batched"] - {room_name}
        for internal in rooms or ():
            if not any(internal in other for other in socket.data["subscriptions"].values()):
                await socket.leave(internal)
        return {"event": "unsubscribed", "data": {"room": room_name}}


def product_namespaces() -> dict[str, Namespace]:
    return {"/": FleetNamespace()}
