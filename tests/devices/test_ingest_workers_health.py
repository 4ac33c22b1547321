"""The admin's realtime health page shows each ingestion worker's state from its heartbeat:
connected, disconnected, or stale when the heartbeat is older than three intervals; staff
only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from devices.models import IngestWorker
from devices.worker_health import HEARTBEAT_SECONDS, ingest_workers
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def _worker(name: str, *, age: float, connected: bool = True, **fields) -> IngestWorker:
    now = timezone.now()
    return IngestWorker.objects.create(name=name, started_at=now - timedelta(hours=1),
                                       heartbeat_at=now - timedelta(seconds=age),
                                       connected=connected, **fields)


def test_a_worker_silent_for_three_heartbeats_is_stale():
    _worker("fresh", age=HEARTBEAT_SECONDS)
    _worker("away", age=HEARTBEAT_SECONDS, connected=False, last_error="broker down")
    _worker("edge", age=3 * HEARTBEAT_SECONDS - 1)
    _worker("gone", age=3 * HEARTBEAT_SECONDS + 1)
    states = {row["name"]: row["state"] for row in ingest_workers()}
    assert states == {"fresh": "connected", "away": "disconnected", "edge": "connected",
                      "gone": "stale"}


def test_the_health_page_lists_the_workers_to_staff_only(client):
    _worker("host-a-ingest", age=1, messages=1234, lag_seconds=0.42, pid=4321)
    _worker("host-b-ingest", age=600, last_error="database: connection refused")
    staff = make_user("ops-staff")
    staff.is_staff = True
    staff.save()
    client.force_login(staff)
    content = client.get("/admin/realtime/health/").content.decode()
    assert "MQTT ingestion workers" in content
    assert 'class="ingest-worker-connected"' in content and "1234" in content
    assert "host-a-ingest (pid 4321)" in content and "0.42 s" in content
    assert 'class="ingest-worker-stale"' in content
    assert "database: connection refused" in content
    client.logout()
    client.force_login(make_user("plain-user"))
    assert client.get("/admin/realtime/health/").status_code == 302


def test_without_workers_the_page_says_how_to_run_one(client):
    staff = make_user("ops-staff")
    staff.is_staff = True
    staff.save()
    client.force_login(staff)
    assert "no worker has run" in client.get("/admin/realtime/health/").content.decode()
