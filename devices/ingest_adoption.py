"""A dead ingestion worker's session, taken over by a live one (devices/ingest_worker.py
explains why the broker cannot do it: Mosquitto 2.0.11 drops, rather than hands to another
member of the share group, what a dead member's session held when that session ends).

A worker whose heartbeat is older than `WorkerOptions.adopt_after` while its last one said it
was connected (killed, its host lost; a worker stopped on purpose says it is not) is claimed
by one live worker with a conditional UPDATE of its IngestWorker row. The claimer connects
with the dead worker's client id and clean start off: the broker sends it what the session
held (the messages sent to the dead worker unacknowledged, then those queued for it since),
it stores them like any batch, leaves the share group and ends the session (`retire`).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from datetime import timedelta

from django.db import DatabaseError, connection
from django.utils import timezone

from devices.models import IngestWorker

logger = logging.getLogger(__name__)

#: Seconds an adopter may take to connect to the broker before the take-over is given up.
ADOPTION_CONNECT_SECONDS = 30.0


def adopt_dead_workers(worker) -> list[threading.Thread]:
    """Claim each dead worker for `worker` (an Ingester) and drain its session in a thread;
    the threads. Of several live workers looking at once, one wins each claim."""
    stale_before = timezone.now() - timedelta(seconds=worker.options.adoption_delay)
    claimed = []
    try:
        dead = IngestWorker.objects.filter(connected=True, heartbeat_at__lt=stale_before)
        for name in dead.exclude(name=worker.id).values_list("name", flat=True):
            if dead.filter(name=name).update(connected=False, heartbeat_at=timezone.now(),
                                             last_error=f"taken over by {worker.id}"):
                claimed.append(name)
    except DatabaseError as exc:
        logger.warning("mqtt ingest %s: dead workers not looked for (%s)", worker.id, exc)
        connection.close()
    threads = []
    for name in claimed:
        thread = threading.Thread(target=_adopt, args=(worker, name), name=f"adopt-{name}",
                                  daemon=True)
        thread.start()
        threads.append(thread)
    return threads


def _adopt(worker, name: str) -> None:
    logger.warning("mqtt ingest %s: %s stopped heartbeating while connected; taking over "
                   "its session", worker.id, name)
    adopter = type(worker)(replace(worker.options, retire=True, adopt_after=0),
                           hostname=worker.hostname, adopting=name)
    thread = threading.Thread(target=adopter.run, name=f"adopter-{name}", daemon=True)
    thread.start()
    deadline = time.monotonic() + ADOPTION_CONNECT_SECONDS
    while not adopter.connected and time.monotonic() < deadline:
        if worker.stopping.wait(0.05) or adopter.stopping.is_set():
            break
    adopter.stop()  # with retire: unsubscribe, store what the session held, end it
    thread.join()
    try:
        if adopter.retired:
            IngestWorker.objects.filter(name=name).update(
                last_error=f"session drained and ended by {worker.id}")
        else:  # the next look for dead workers tries again
            IngestWorker.objects.filter(name=name).update(
                connected=True, last_error=f"take-over by {worker.id} failed")
    except DatabaseError as exc:
        logger.warning("mqtt ingest %s: take-over of %s not recorded (%s)", worker.id, name,
                       exc)
    finally:
        connection.close()
    logger.warning("mqtt ingest %s: take-over of %s %s", worker.id, name,
                   "done, session ended" if adopter.retired else "failed")
