"""The ingestion workers as the admin's realtime health page shows them (a read)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from devices.models import IngestWorker

#: Seconds between two heartbeats of a worker (devices/ingest_worker.py).
HEARTBEAT_SECONDS = 5.0
#: Heartbeats a worker may miss before it is shown as stale (stopped, hung or cut off from
#: the database).
STALE_AFTER_HEARTBEATS = 3


def ingest_workers(*, now: datetime | None = None) -> list[dict]:
    """Every worker that ever ran, by name: its state (`connected`, `disconnected`, or
    `stale` when its heartbeat is older than three intervals), lag and counts."""
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=STALE_AFTER_HEARTBEATS * HEARTBEAT_SECONDS)
    rows = []
    for worker in IngestWorker.objects.order_by("name"):
        if worker.heartbeat_at < stale_before:
            state = "stale"
        else:
            state = "connected" if worker.connected else "disconnected"
        rows.append({
            "name": worker.name, "host": worker.hostname, "pid": worker.pid, "state": state,
            "heartbeat_age": max(0.0, (now - worker.heartbeat_at).total_seconds()),
            "last_message_at": worker.last_message_at, "lag_seconds": worker.lag_seconds,
            "messages": worker.messages, "last_error": worker.last_error,
        })
    return rows
