"""Creating or dropping a day partition needs the readings table to itself for an instant.
Behind a long query it gives up after a short wait instead of queueing every ingestion
behind it: the daily sweep tries again, prune_telemetry retries a few times."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from django.db import OperationalError, connection

from sales.partitions import VENDS
from telemetry.partitions import READINGS
from tests import live
from tests.conftest import require_postgresql
from vendhub import partitioning

pytestmark = pytest.mark.django_db(transaction=True)

FAR = date(2033, 5, 1)


@pytest.fixture
def long_reader():
    """Another session; `start(other)` puts it in the middle of a long read of the
    readings table (the lock a SELECT holds until its transaction ends)."""
    require_postgresql("partitioning is PostgreSQL's")
    with psycopg.connect(live.test_database_url()) as other:
        yield other
        other.rollback()


def start(other) -> None:
    other.execute(f"LOCK TABLE {READINGS.table} IN ACCESS SHARE MODE")


def lock_timeout() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW lock_timeout")
        return cursor.fetchone()[0]


def test_creating_a_partition_behind_a_long_read_gives_up_and_the_sweep_retries(
        long_reader, monkeypatch):
    monkeypatch.setattr(partitioning, "LOCK_WAIT", "200ms")
    check = partitioning.DailyEnsure()
    start(long_reader)
    began = time.monotonic()
    with pytest.raises(OperationalError, match="lock timeout"):
        check(now=datetime.combine(FAR, datetime.min.time(), tzinfo=UTC))
    assert time.monotonic() - began < 5
    assert check.done_for is None  # not marked done: the next sweep tries again
    assert lock_timeout() == "0"  # the session's own setting is back
    long_reader.rollback()
    check(now=datetime.combine(FAR, datetime.min.time(), tzinfo=UTC))
    assert check.done_for == FAR
    ahead = FAR + timedelta(days=partitioning.AHEAD_DAYS)
    assert ahead in READINGS.partition_days() and ahead in VENDS.partition_days()
    with connection.cursor() as cursor:  # this test's days only (the database outlives it)
        for table in (READINGS, VENDS):
            for day in table.partition_days():
                if day >= FAR - timedelta(days=partitioning.BEHIND_DAYS):
                    cursor.execute(f"DROP TABLE {table.partition_name(day)}")


def test_dropping_behind_a_long_read_retries_until_the_read_ends(long_reader, monkeypatch):
    old = date(2001, 1, 1)
    READINGS.create_day_partitions([old])
    start(long_reader)
    monkeypatch.setattr(partitioning, "LOCK_WAIT", "200ms")
    sleeps = []

    def end_the_read_then_sleep(seconds):
        sleeps.append(seconds)
        long_reader.rollback()

    monkeypatch.setattr(partitioning, "_pause_before_retry", end_the_read_then_sleep)
    dropped = READINGS.drop_partitions_before(partitioning.day_start(date(2001, 1, 2)))
    assert dropped == [READINGS.partition_name(old)]
    assert sleeps == [1]
    assert READINGS.partition_name(old) not in READINGS.partitions()
