"""The server's settings, read from `settings.REALTIME` through one accessor (generic layer:
keys of `settings.REALTIME` that are not fields here belong to the product, which reads them
itself)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from django.conf import settings


@dataclass(frozen=True)
class RealtimeConfig:
    ping_interval_ms: int = 25_000
    ping_timeout_ms: int = 20_000
    max_payload: int = 1_000_000
    connect_timeout_ms: int = 45_000
    #: Time a client has to send `5` after its websocket probe (the reference server's 10 s).
    upgrade_timeout_ms: int = 10_000
    #: Origins allowed to open a session; ["*"] allows any. Empty: same-origin clients and
    #: non-browser clients (which send no Origin header) only.
    allowed_origins: tuple[str, ...] = field(default_factory=tuple)
    #: Frames queued for one client before it is judged too slow and disconnected.
    max_queued_frames: int = 1000
    #: Subscribe/unsubscribe requests one socket may make per second before it is dropped.
    max_room_requests_per_second: int = 50
    #: Rooms one socket may be in at once.
    max_rooms_per_socket: int = 200
    #: Connection state recovery (Socket.IO >= 4.6): the CONNECT reply carries a private
    #: session id, room events an offset, and a client back within the window with both
    #: gets its sid and rooms back and every event it missed (realtime/server/sio/recovery.py).
    recovery: bool = True
    #: How long a disconnected session stays recoverable (Socket.IO's
    #: `maxDisconnectionDuration`).
    recovery_window_ms: int = 120_000
    #: How long a process stays in a room's channel-layer group after its last local member
    #: left: a client that reconnects (a page reload, a reconnect storm) rejoins without
    #: two Redis round trips; 0 leaves the group at once.
    room_linger_ms: int = 30_000
    #: Largest websocket message or polling body of a session whose client has not
    #: connected a Socket.IO namespace yet (not authenticated): a CONNECT with its token is
    #: all it has to send. Also the ASGI server's own message limit for that websocket, so
    #: that a larger frame is refused before the server buffers it.
    unauthenticated_max_payload: int = 16_384
    #: Binary attachments one Socket.IO packet may announce, once connected (0 before).
    max_attachments: int = 10
    #: Bytes of binary attachments one session may hold while its packet is incomplete.
    max_attachment_bytes: int = 1_000_000
    #: Bytes of incomplete binary packets all sessions of a process may hold together.
    max_pending_attachment_bytes: int = 32_000_000
    #: After this many sessions closed (a storm), once they stop closing, the process runs
    #: a full garbage collection and gives free memory back to the system
    #: (realtime/server/engine/memory.py); 0 never does.
    sweep_after_closes: int = 1000
    #: A draining process (SIGTERM under uvicorn, realtime/server/drain.py) refuses new
    #: sessions and fails its health check this long before it closes its sessions: the
    #: load balancer's checks must see it first (HAProxy: `inter` x `fall`), or the clients
    #: it closes may be sent back to it.
    drain_delay_ms: int = 0
    #: Write batching (realtime/server/engine/batch.py): when the channel layer already holds
    #: the next event, the frames of up to this many consecutive events are written to each
    #: websocket with one call (1: every frame written on its own) ...
    write_batch_events: int = 8
    #: ... and the first of them waits at most this long.
    write_batch_hold_ms: float = 5.0
    #: The request headers a session keeps in its scope once it is open (lower case): what
    #: the server checks at the handshake and what namespaces read when a client connects
    #: to one, possibly long after (a token, a session cookie, the language). The others
    #: (user agent, websocket keys, proxies' headers...) go: ~0.7 KB of every idle
    #: connection otherwise.
    session_headers: tuple[str, ...] = ("host", "origin", "authorization", "cookie",
                                        "accept-language")

    def with_overrides(self, **changes) -> RealtimeConfig:
        return replace(self, **changes)


def realtime_config() -> RealtimeConfig:
    raw = dict(getattr(settings, "REALTIME", {}))
    known = {f.lower(): v for f, v in raw.items()}
    for name in ("allowed_origins", "session_headers"):
        if name in known:
            known[name] = tuple(known[name])
    fields = RealtimeConfig.__dataclass_fields__
    return RealtimeConfig(**{k: v for k, v in known.items() if k in fields})
