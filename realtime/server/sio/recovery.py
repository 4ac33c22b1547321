"""Connection state recovery (Socket.IO >= 4.6 semantics) for the connection layer.

A socket of a recoverable namespace (`Namespace.recoverable`, with `RealtimeConfig.recovery`
on) gets a private session id, `pid`, in its CONNECT reply, and every room event it receives
carries a history offset as its last argument (realtime/broadcast.py). When its connection
is lost (ping timeout, transport closed or failed, too slow, server shutting down; not when
the client or the server leaves the namespace on purpose) its state is parked in the history
store (realtime/server/history.py: Redis, so any process can take it) for the recovery window.
While the connection is alive the same record is kept there too (realtime/server/sio/records.py),
so that the clients of a process that crashed, and parked nothing, recover as well.

A client back in time sends `{pid, offset}` in its CONNECT auth payload. It is
authenticated as usual first; then it gets its sid and its rooms back (the namespace
re-authorizes them), the CONNECT reply with the SAME pid (what makes socket.io-client set
`socket.recovered`), every event of its rooms after `offset` in order, and then the live
events that arrived meanwhile, none twice. A client that had received no event yet sends no
offset: it is replayed from the history head recorded when its session began. Otherwise it
gets a fresh session (a new pid) and should resync over REST.
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import TYPE_CHECKING

from .. import metrics
from ..batching import shared_read
from ..conf import RealtimeConfig
from ..engine.session import CloseReason
from ..history import frame_with_offset, get_history, is_offset, parse_offset
from . import records

if TYPE_CHECKING:
    from .namespace import Namespace, Socket

logger = logging.getLogger(__name__)

#: Connection losses after which a session is parked. A client's `41` (it left on purpose)
#: and a server-side disconnect (e.g. expired token) end the session for good, as do
#: protocol violations and forced closes (floods).
RECOVERABLE_REASONS = frozenset({
    CloseReason.PING_TIMEOUT.value,
    CloseReason.CLIENT_CLOSE.value,
    CloseReason.TRANSPORT_ERROR.value,
    CloseReason.SLOW_CLIENT.value,
    CloseReason.SERVER.value,
})

_PID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


#: The history head that new sessions start from, one Redis read for the connects that
#: arrive together (a reconnect storm read it once per client: 12 % of the storm's CPU).
_history_head = shared_read(lambda: get_history().head())


def enabled(config: RealtimeConfig, namespace: Namespace) -> bool:
    return config.recovery and namespace.recoverable


async def open_session(socket: Socket, namespace: Namespace, auth: object,
                       config: RealtimeConfig) -> list[str]:
    """Give an authenticated `socket` its session, before its CONNECT reply.

    When `auth` names a parked session that can be recovered, the socket gets its sid, pid
    and rooms back and holds its live frames: the frames it missed are returned, oldest
    first, for `replay()`. Otherwise the socket gets a fresh pid and `[]` is returned."""
    pid = auth.get("pid") if isinstance(auth, dict) else None
    if isinstance(pid, str) and _PID.match(pid):
        try:
            missed = await _recover(socket, namespace, pid, auth.get("offset"), config)
        except Exception as exc:
            logger.error("socket %s: recovery failed, starting a fresh session: %s: %s",
                         socket.sid, type(exc).__name__, exc)
            missed = None
        metrics.recoveries.labels(outcome="miss" if missed is None else "hit").inc()
        if missed is not None:
            logger.info("socket %s: session recovered, %d missed event(s) to replay",
                        socket.sid, len(missed))
            return missed
    socket.pid = secrets.token_urlsafe(15)
    try:
        socket.base = await _history_head()
    except Exception as exc:
        # Recovery then works only for a client that received an event (it has an offset).
        logger.error("socket %s: could not read the history head: %s: %s", socket.sid,
                     type(exc).__name__, exc)
    return []


async def _recover(socket: Socket, namespace: Namespace, pid: str, offset: object,
                   config: RealtimeConfig) -> list[str] | None:
    history = get_history()
    record = await history.take_session(pid)
    if record is None:
        logger.info("socket %s: no parked session to recover (unknown or expired)", socket.sid)
        return None
    base = record.get("base")
    if (offset is not None and not is_offset(offset)) or not isinstance(record.get("sid"), str):
        logger.info("socket %s: cannot recover from offset %r", socket.sid, offset)
        return None
    # Nothing before `base` belongs to this session. socket.io-client keeps its last offset
    # across sessions: after a failed recovery it sends one older than its new session.
    candidates = [o for o in (offset, base) if is_offset(o)]
    if not candidates:
        logger.info("socket %s: cannot recover without an offset", socket.sid)
        return None
    start = max(candidates, key=parse_offset)
    socket.hold()  # rooms joined from now on deliver here until the replay is queued
    try:
        if not await namespace.restore_state(socket, record):
            socket.discard_held()
            # Not this client's session: leave it parked for its owner.
            await history.save_session(pid, record, config.recovery_window_ms / 1000)
            logger.warning("socket %s: refused to recover another user's session", socket.sid)
            return None
        entries = await history.since(start, socket.rooms)
    except BaseException:
        await _undo(socket, namespace)
        raise
    if entries is None:
        logger.info("socket %s: events after offset %s are gone from the history", socket.sid,
                    start)
        await _undo(socket, namespace)
        return None
    socket.sid = record["sid"]
    socket.pid = pid
    socket.base = entries[-1].offset if entries else start
    return [frame_with_offset(entry.body, entry.offset) for entry in entries]


async def _undo(socket: Socket, namespace: Namespace) -> None:
    socket.discard_held()
    await socket.leave_all()
    namespace.forget_state(socket)


async def replay(socket: Socket, frames: list[str], config: RealtimeConfig) -> None:
    """Queue the missed frames after the CONNECT reply, then the live frames held
    meanwhile that are newer than the last replayed one.

    A long replay is paced (the queue is refilled as the client reads it) so that it does
    not trip the slow-client bound by itself; a client that stops reading is still closed,
    by the bound on its held live frames or by the heartbeat."""
    engine = socket.connection.engine
    batch = max(1, config.max_queued_frames // 2)
    for frame in frames:
        if len(engine.queue) >= batch:
            await engine.wait_drained()
        if not engine.enqueue(frame):
            socket.discard_held()
            return
    socket.release(after=socket.base)


def session_record(socket: Socket, namespace: Namespace, reason: str) -> dict | None:
    """What to park of a socket that is leaving for `reason` (None: nothing, the session
    ends). Taken before the socket leaves its rooms."""
    if socket.pid is None or reason not in RECOVERABLE_REASONS:
        return None
    try:
        return {**namespace.park_state(socket), "sid": socket.sid, "base": socket.base}
    except Exception:
        logger.exception("socket %s: could not read the state to park", socket.sid)
        return None


async def park(socket: Socket, record: dict, config: RealtimeConfig) -> None:
    """Keep `record` for the recovery window, under the socket's pid."""
    kept = records.keeper(config)
    kept.parking += 1
    try:
        await get_history().save_session(socket.pid, record, config.recovery_window_ms / 1000)
    except Exception as exc:
        logger.error("socket %s: could not park the session for recovery: %s: %s",
                     socket.sid, type(exc).__name__, exc)
    finally:
        kept.parking -= 1
