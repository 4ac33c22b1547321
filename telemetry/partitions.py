"""Daily partitions of the readings table on PostgreSQL.

`telemetry_telemetryreading` is range-partitioned by `timestamp`, one partition per UTC day
(`telemetry_telemetryreading_p20261207`), plus a DEFAULT partition. Days are created ahead
(`manage.py create_partitions`, and once a day by the watchdog's sweep); retention drops
whole days (`manage.py prune_telemetry`) instead of deleting rows one by one.

Why a DEFAULT partition: ingestion already bounds a reading's timestamp (no older than the
retention, no further ahead than the clock skew, telemetry.validation), so with days created
ahead it stays empty. It is the safety net for a watchdog that did not run for two weeks: a
reading is then stored, never refused with a 500 for a missing partition. Creating a day
moves the rows the DEFAULT partition holds for that day into it, so the net empties itself.

On SQLite (the embedded default) the table is a plain table and every function here is a
no-op: `is_partitioned()` is False.

The top of this module is pure (names and date arithmetic); the rest talks to the database.
"""

from __future__ import annotations

import re
import time as clock
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db import OperationalError, connection, transaction

#: The readings table (TelemetryReading._meta.db_table, spelled out: the migration that
#: partitions it imports this module, and must not depend on the model's current state).
TABLE = "telemetry_telemetryreading"
DEFAULT_PARTITION = f"{TABLE}_default"
#: Days created ahead of today by the daily sweep and `create_partitions` by default.
AHEAD_DAYS = 14
#: Days before today given partitions by the conversion and the daily sweep. A reading
#: of an older day with no partition (a machine sending what it kept while offline) lands
#: in the DEFAULT partition; the next sweep gives that day its partition and moves it there.
BEHIND_DAYS = 3
_DAY_NAME = re.compile(rf"^{TABLE}_p(\d{{8}})$")


# -- pure ------------------------------------------------------------------------------

def partition_name(day: date) -> str:
    return f"{TABLE}_p{day:%Y%m%d}"


def day_of(name: str) -> date | None:
    """The day a partition holds, from its name; None for the DEFAULT partition or a
    table this module did not name."""
    match = _DAY_NAME.match(name)
    return None if match is None else datetime.strptime(match[1], "%Y%m%d").date()


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def days_between(first: date, last: date) -> list[date]:
    """Every day from `first` to `last`, both included."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def days_to_drop(days: list[date], cutoff: datetime) -> list[date]:
    """The days entirely before `cutoff`: their partitions can go whole. The day holding
    the cutoff (the boundary) keeps its newer rows, so it is pruned row by row."""
    return sorted(day for day in days if day_start(day + timedelta(days=1)) <= cutoff)


def days_to_create(existing: set[date], *, today: date, ahead: int, behind: int) -> list[date]:
    """The missing days from `behind` days before `today` to `ahead` days after it."""
    wanted = days_between(today - timedelta(days=behind), today + timedelta(days=ahead))
    return [day for day in wanted if day not in existing]


def _literal(moment: datetime) -> str:
    # A bound with its offset, so the session's TimeZone cannot shift a day.
    return f"'{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}+00'"


# -- database --------------------------------------------------------------------------

def is_partitioned(conn=connection) -> bool:
    if conn.vendor != "postgresql":
        return False
    with conn.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [TABLE])
        row = cursor.fetchone()
    return row is not None and row[0] == "p"


def partitions(conn=connection) -> list[str]:
    """The names of the readings table's partitions (the DEFAULT one included)."""
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s) ORDER BY c.relname", [TABLE])
        return [name for (name,) in cursor.fetchall()]


def partition_days(conn=connection) -> list[date]:
    return sorted(day for name in partitions(conn) if (day := day_of(name)) is not None)


def create_default_partition(conn=connection) -> None:
    qn = conn.ops.quote_name
    with conn.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {qn(DEFAULT_PARTITION)} "
                       f"PARTITION OF {qn(TABLE)} DEFAULT")


#: How long creating or dropping a partition waits for the table's lock. Both need the
#: readings table to themselves for an instant; a request queued behind a waiting DDL
#: would wait too, so the DDL gives up early and is tried again (next sweep, next attempt).
LOCK_WAIT = "2s"
DROP_ATTEMPTS = 5


@contextmanager
def _short_lock_wait(conn):
    """A savepoint in which lock waits end after LOCK_WAIT (the previous setting back after,
    so a caller's transaction, such as a migration's, keeps its own)."""
    with transaction.atomic(using=conn.alias), conn.cursor() as cursor:
        cursor.execute("SELECT current_setting('lock_timeout')")
        previous = cursor.fetchone()[0]
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [LOCK_WAIT])
        yield cursor
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])


def create_day_partitions(days: list[date], conn=connection) -> list[str]:
    """Create the partitions of `days` that do not exist; returns the names created.

    Rows the DEFAULT partition holds for a day move into the day's partition in the same
    transaction (PostgreSQL refuses a partition whose rows sit in the DEFAULT one).
    """
    qn = conn.ops.quote_name
    existing = set(partitions(conn))
    created = []
    for day in sorted(set(days)):
        name = partition_name(day)
        if name in existing:
            continue
        low, high = _literal(day_start(day)), _literal(day_start(day + timedelta(days=1)))
        in_day = f'"timestamp" >= {low} AND "timestamp" < {high}'
        with _short_lock_wait(conn) as cursor:
            moved = 0
            if DEFAULT_PARTITION in existing:
                cursor.execute(f"SELECT EXISTS (SELECT FROM {qn(DEFAULT_PARTITION)} "
                               f"WHERE {in_day})")
                if cursor.fetchone()[0]:
                    cursor.execute(f"CREATE TEMP TABLE telemetry_moving (LIKE {qn(TABLE)}) "
                                   f"ON COMMIT DROP")
                    cursor.execute(
                        f"WITH moved AS (DELETE FROM {qn(DEFAULT_PARTITION)} WHERE {in_day} "
                        f"RETURNING *) INSERT INTO telemetry_moving SELECT * FROM moved")
                    moved = cursor.rowcount
            cursor.execute(f"CREATE TABLE {qn(name)} PARTITION OF {qn(TABLE)} "
                           f"FOR VALUES FROM ({low}) TO ({high})")
            if moved:
                cursor.execute(f"INSERT INTO {qn(TABLE)} SELECT * FROM telemetry_moving")
                cursor.execute("DROP TABLE telemetry_moving")
        created.append(name)
    return created


def days_in_default(conn=connection) -> list[date]:
    """The UTC days of the rows the DEFAULT partition holds (normally none)."""
    if DEFAULT_PARTITION not in partitions(conn):
        return []
    with conn.cursor() as cursor:
        cursor.execute(f"""SELECT DISTINCT ("timestamp" AT TIME ZONE 'UTC')::date """
                       f"FROM {conn.ops.quote_name(DEFAULT_PARTITION)}")
        return sorted(day for (day,) in cursor.fetchall())


def ensure_partitions(*, today: date | None = None, ahead: int = AHEAD_DAYS,
                      behind: int = BEHIND_DAYS, keep_days: int | None = None,
                      conn=connection) -> list[str]:
    """Create the missing days from `behind` days ago to `ahead` days ahead, and the days
    of the rows the DEFAULT partition holds that are younger than `keep_days` (moving them
    in). Returns the names created; nothing when the table is not partitioned."""
    if not is_partitioned(conn):
        return []
    today = today or datetime.now(UTC).date()
    missing = days_to_create(set(partition_days(conn)), today=today, ahead=ahead, behind=behind)
    if keep_days is not None:
        oldest = today - timedelta(days=keep_days)
        missing += [day for day in days_in_default(conn) if day >= oldest]
    return create_day_partitions(missing, conn)


def estimated_rows(names: list[str], conn=connection) -> int:
    """The rows of these partitions by the statistics (pg_class.reltuples), read nothing."""
    if not names:
        return 0
    with conn.cursor() as cursor:
        cursor.execute("SELECT coalesce(sum(greatest(reltuples, 0)), 0)::bigint FROM pg_class "
                       "WHERE relname = ANY(%s)", [names])
        return cursor.fetchone()[0]


def drop_partitions_before(cutoff: datetime, conn=connection) -> list[str]:
    """Drop the day partitions entirely older than `cutoff`; returns their names. A DROP
    is a catalog change: no row is read, no dead tuple left for VACUUM."""
    qn = conn.ops.quote_name
    dropped = []
    for day in days_to_drop(partition_days(conn), cutoff):
        name = partition_name(day)
        for attempt in range(1, DROP_ATTEMPTS + 1):
            try:
                with _short_lock_wait(conn) as cursor:
                    cursor.execute(f"DROP TABLE IF EXISTS {qn(name)}")
                break
            except OperationalError:  # lock_timeout: a long query holds the table
                if attempt == DROP_ATTEMPTS:
                    raise
                _pause_before_retry(attempt)
        dropped.append(name)
    return dropped


def _pause_before_retry(seconds: float) -> None:
    """Its own name, so a test can replace this wait without replacing `time.sleep` for
    every thread of the process (a background thread's sleeps would land in its record)."""
    clock.sleep(seconds)


@dataclass
class _DailyEnsure:
    """The watchdog's sweep check: partitions ahead, ensured once per UTC day per process
    (the sweep runs every few seconds; the catalog need not be read that often)."""

    done_for: date | None = None

    def __call__(self, *, now: datetime) -> None:
        today = now.astimezone(UTC).date()
        if self.done_for == today:
            return
        from telemetry.conf import telemetry_settings

        ensure_partitions(today=today, keep_days=telemetry_settings().retention_days)
        self.done_for = today


ensure_partitions_daily = _DailyEnsure()
