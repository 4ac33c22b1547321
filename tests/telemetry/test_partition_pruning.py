"""A history query for one day reads only that day's partition (PostgreSQL's partition
pruning, shown with EXPLAIN on the very SQL telemetry.history runs), and retention drops
whole days instead of deleting their rows."""

from __future__ import annotations

import io
import re
from datetime import UTC, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from telemetry.history import telemetry_history
from telemetry.models import TelemetryReading
from telemetry.partitions import READINGS
from tests.conftest import require_postgresql
from tests.factories import make_reading
from vendhub import partitioning

pytestmark = pytest.mark.django_db


def scanned(sql: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        plan = "\n".join(line for (line,) in cursor.fetchall())
    return set(re.findall(rf"on ({READINGS.table}_\w+)", plan))


def test_a_history_query_of_one_day_scans_only_that_days_partition(personas):
    require_postgresql("EXPLAIN plans are PostgreSQL's")
    today = timezone.now().astimezone(UTC).date()
    day = today - timedelta(days=2)
    start = partitioning.day_start(day)
    for hours in (-1, 3, 12, 25):
        make_reading(personas.machine, timestamp=start + timedelta(hours=hours))

    with CaptureQueriesContext(connection) as queries:
        history = telemetry_history(machine=personas.machine, start=start,
                                    end=start + timedelta(days=1), bucket=3600)
    assert sum(point["count"] for point in history["points"]) == 2
    reads = [q["sql"] for q in queries.captured_queries if READINGS.table in q["sql"]]
    assert len(reads) == 2  # the environment and the bunker levels
    for sql in reads:
        assert scanned(sql) == {READINGS.partition_name(day)}, sql


def test_a_range_across_midnight_scans_the_two_days_it_touches(personas):
    require_postgresql("EXPLAIN plans are PostgreSQL's")
    day = timezone.now().astimezone(UTC).date() - timedelta(days=1)
    midnight = partitioning.day_start(day + timedelta(days=1))
    with CaptureQueriesContext(connection) as queries:
        telemetry_history(machine=personas.machine, start=midnight - timedelta(hours=2),
                          end=midnight + timedelta(hours=2), bucket=600)
    sql = next(q["sql"] for q in queries.captured_queries if READINGS.table in q["sql"])
    assert scanned(sql) == {READINGS.partition_name(day),
                            READINGS.partition_name(day + timedelta(days=1))}


def test_retention_drops_the_old_days_whole_and_prunes_the_boundary_day_by_row(personas,
                                                                              settings):
    require_postgresql("partitioning is PostgreSQL's")
    settings.TELEMETRY_RETENTION_DAYS = 30
    now = timezone.now()
    cutoff = now - timedelta(days=30)
    boundary = cutoff.astimezone(UTC).date()
    old_days = [boundary - timedelta(days=n) for n in (1, 2, 3)]
    READINGS.create_day_partitions([*old_days, boundary])
    for day in old_days:
        make_reading(personas.machine, timestamp=partitioning.day_start(day) + timedelta(hours=6))
    make_reading(personas.machine, timestamp=cutoff - timedelta(seconds=1))  # boundary, old
    kept = make_reading(personas.machine, timestamp=cutoff + timedelta(minutes=1))
    recent = make_reading(personas.machine, timestamp=now - timedelta(hours=1))

    with connection.cursor() as cursor:
        # The deferred foreign-key checks of the rows made above, in this test's transaction,
        # would forbid the DROP; prune_telemetry itself runs in a fresh one.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    out = io.StringIO()
    call_command("prune_telemetry", stdout=out)

    assert "dropped 3 day partitions" in out.getvalue()
    assert "deleted 1 readings" in out.getvalue()
    assert not set(map(READINGS.partition_name, old_days)) & set(READINGS.partitions())
    assert READINGS.partition_name(boundary) in READINGS.partitions()
    assert set(TelemetryReading.objects.values_list("pk", flat=True)) == {kept.pk, recent.pk}


def test_a_dry_run_names_the_days_it_would_drop_and_drops_none(personas):
    require_postgresql("partitioning is PostgreSQL's")
    old = timezone.now().astimezone(UTC).date() - timedelta(days=120)
    READINGS.create_day_partitions([old])
    make_reading(personas.machine, timestamp=partitioning.day_start(old))
    out = io.StringIO()
    call_command("prune_telemetry", "--dry-run", stdout=out)
    assert f"would drop 1 day partitions ({old} to {old})" in out.getvalue()
    assert READINGS.partition_name(old) in READINGS.partitions()
    assert TelemetryReading.objects.count() == 1
