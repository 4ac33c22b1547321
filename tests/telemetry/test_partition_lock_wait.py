"""Creating or dropping a day partition needs the readings table to itself for an instant.
Behind a long query it gives up after a short wait instead of queueing every ingestion
behind it: the daily sweep tries again, prune_telemetry retries a few times."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from django.db import OperationalError, connection

from telemetry import partitions
from tests import live
from tests.conftest import require_postgresql

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
    other.execute(f"LOCK TABLE {partitions.TABLE} IN ACCESS SHARE MODE")


def lock_timeout() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW lock_timeout")
        return cursor.fetchone()[0]


def test_creating_a_partition_behind_a_long_read_gives_up_and_the_sweep_retries(
        long_reader, monkeypatch):
    monkeypatch.setattr(partitions, "LOCK_WAIT", "200ms")
    check = partitions._DailyEnsure()
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
    assert FAR + timedelta(days=partitions.AHEAD_DAYS) in partitions.partition_days()
    with connection.cursor() as cursor:  # this test's days only (the database outlives it)
        for day in partitions.partition_days():
            if day >= FAR - timedelta(days=partitions.BEHIND_DAYS):
                cursor.execute(f"DROP TABLE {partitions.partition_name(day)}")


def test_dropping_behind_a_long_read_retries_until_the_read_ends(long_reader, monkeypatch):
    old = date(2001, 1, 1)
    partitions.create_day_partitions([old])
    start(long_reader)
    monkeypatch.setattr(partitions, "LOCK_WAIT", "200ms")
    sleeps = []

    def end_the_read_then_sleep(seconds):
        sleeps.append(seconds)
        long_reader.rollback()

    monkeypatch.setattr(partitions, "_pause_before_retry", end_the_read_then_sleep)
    dropped = partitions.drop_partitions_before(partitions.day_start(date(2001, 1, 2)))
    assert dropped == [partitions.partition_name(old)]
    assert sleeps == [1]
    assert partitions.partition_name(old) not in partitions.partitions()
