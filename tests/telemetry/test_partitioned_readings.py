"""On PostgreSQL the readings table is partitioned by UTC day: a reading lands in its day's
partition, a re-sent one is still a duplicate, a day without a partition falls into the
DEFAULT one until `create_partitions` gives it its own, and SQLite keeps a plain table."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from telemetry.models import TelemetryReading
from telemetry.partitions import READINGS
from telemetry.rules import Reading
from telemetry.services import ingest_telemetry
from tests.conftest import require_postgresql
from tests.factories import make_reading
from vendhub import partitioning

pytestmark = pytest.mark.django_db


def where_rows_are() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text, count(*) "
                       f"FROM {READINGS.table} GROUP BY 1")
        return dict(cursor.fetchall())


def reading(at: datetime) -> Reading:
    return Reading(timestamp=at, status="online", temperature=21.0, humidity=40.0,
                   uptime=60, last_sale=None, bunker_levels={})


def test_the_readings_table_is_partitioned_with_days_ahead_and_a_default():
    require_postgresql("partitioning is PostgreSQL's")
    assert READINGS.is_partitioned()
    today = timezone.now().astimezone(UTC).date()
    days = READINGS.partition_days()
    assert today in days and today + timedelta(days=partitioning.AHEAD_DAYS) in days
    assert READINGS.default_partition in READINGS.partitions()


def test_a_reading_is_stored_in_its_days_partition_and_a_resent_one_is_a_duplicate(personas):
    require_postgresql("partitioning is PostgreSQL's")
    now = timezone.now()
    first = ingest_telemetry(machine=personas.machine, readings=[reading(now)], now=now)
    again = ingest_telemetry(machine=personas.machine, readings=[reading(now)], now=now)
    assert (first.accepted, again.accepted, again.duplicates) == (1, 0, 1)
    day = READINGS.partition_name(now.astimezone(UTC).date())
    assert where_rows_are() == {day: 1}


def test_a_day_without_partition_lands_in_default_and_create_partitions_moves_it(personas):
    require_postgresql("partitioning is PostgreSQL's")
    today = timezone.now().astimezone(UTC).date()
    old_day = today - timedelta(days=20)  # older than the days kept created behind
    at = partitioning.day_start(old_day) + timedelta(hours=23, minutes=59, seconds=59)
    make_reading(personas.machine, timestamp=at)
    make_reading(personas.machine, timestamp=at - timedelta(hours=1))
    assert where_rows_are() == {READINGS.default_partition: 2}

    out = io.StringIO()
    call_command("create_partitions", "--ahead", "3", stdout=out)
    assert f"created {READINGS.partition_name(old_day)}" in out.getvalue()
    assert where_rows_are() == {READINGS.partition_name(old_day): 2}
    assert TelemetryReading.objects.filter(machine=personas.machine).count() == 2

    again = io.StringIO()
    call_command("create_partitions", "--ahead", "3", stdout=again)
    assert "0 partition(s) created" in again.getvalue()


def test_a_reading_older_than_the_retention_stays_in_default_for_the_pruning(personas):
    require_postgresql("partitioning is PostgreSQL's")
    at = timezone.now() - timedelta(days=400)
    make_reading(personas.machine, timestamp=at)
    call_command("create_partitions", stdout=io.StringIO())
    assert where_rows_are() == {READINGS.default_partition: 1}


def test_create_partitions_ahead_creates_the_days_up_to_that_many_ahead():
    require_postgresql("partitioning is PostgreSQL's")
    today = timezone.now().astimezone(UTC).date()
    call_command("create_partitions", "--ahead", "40", stdout=io.StringIO())
    assert today + timedelta(days=40) in READINGS.partition_days()


def test_the_daily_sweep_check_ensures_partitions_once_a_day(django_assert_num_queries):
    require_postgresql("partitioning is PostgreSQL's")
    check = partitioning.DailyEnsure()
    later = datetime(2031, 3, 2, 1, tzinfo=UTC)
    check(now=later)
    assert later.date() + timedelta(days=partitioning.AHEAD_DAYS) in READINGS.partition_days()
    with django_assert_num_queries(0):  # the same UTC day again: not even the catalog
        check(now=later + timedelta(hours=22))
    check(now=later + timedelta(days=1))
    assert (later.date() + timedelta(days=partitioning.AHEAD_DAYS + 1)
            in READINGS.partition_days())


def test_negative_days_are_refused_with_a_clear_message():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--ahead and --behind must be at least 0"):
        call_command("create_partitions", "--ahead", "-1", stdout=io.StringIO())


def test_on_sqlite_the_tables_stay_plain_and_create_partitions_does_nothing(tmp_path):
    """The embedded default (`make run` without DATABASE_URL), whatever database the suite
    runs on: migrate a fresh SQLite file in a subprocess and look at the table."""
    import sqlite3
    import subprocess
    import sys

    from tests import live

    database = tmp_path / "embedded.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "DEBUG": "1"}
    env.pop("REDIS_URL", None)

    def manage(*args: str) -> str:
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=live.ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    manage("migrate", "--noinput")
    out = manage("create_partitions")
    assert "telemetry_telemetryreading is not partitioned (sqlite): nothing to do" in out
    assert "sales_vend is not partitioned (sqlite): nothing to do" in out
    assert "pruned 0 rows" in manage("prune_vends")
    with sqlite3.connect(database) as db:
        tables = [name for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND (name LIKE "
            "'telemetry_telemetryreading%' OR name LIKE 'sales_vend%') ORDER BY name")]
    assert tables == ["sales_vend", "sales_vendkey", "telemetry_telemetryreading"]
