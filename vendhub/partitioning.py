"""Tables range-partitioned by UTC day on PostgreSQL: the readings (telemetry) and the vends
(sales), the two tables that grow with every machine every minute.

Each such table is described once by a `DayPartitionedTable` (its name, its time column,
the days it keeps) and registered in `TABLES`. A partition holds one UTC day
(`sales_vend_p20261207`); a DEFAULT partition catches the rest. Days are created ahead
(`manage.py create_partitions`, and once a day by the watchdog's sweep: `DailyEnsure`);
retention drops whole days instead of deleting rows one by one.

Why a DEFAULT partition: ingestion bounds a row's time (no older than the table's
retention, no further ahead than the clock skew), so with days created ahead it stays
empty. It is the safety net for a watchdog that did not run for two weeks: a row is then
stored, never refused with a 500 for a missing partition. Creating a day moves the rows the
DEFAULT partition holds for that day into it, so the net empties itself.

On SQLite (the embedded default) the tables are plain and every method here is a no-op:
`is_partitioned()` is False. Converting a table is `vendhub.partition_conversion`'s.

The top of this module is pure (names and date arithmetic); the rest talks to the database.
"""

from __future__ import annotations

import re
import time as clock
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db import OperationalError, connection, transaction

#: Days created ahead of today by the daily sweep and `create_partitions` by default.
AHEAD_DAYS = 14
#: Days before today given partitions by a conversion and the daily sweep. A row of an
#: older day with no partition (a machine sending what it kept while offline) lands in the
#: DEFAULT partition; the next sweep gives that day its partition and moves it there.
BEHIND_DAYS = 3
#: How long creating or dropping a partition waits for the table's lock. Both need the
#: table to themselves for an instant; a request queued behind a waiting DDL would wait
#: too, so the DDL gives up early and is tried again (next sweep, next attempt).
LOCK_WAIT = "2s"
DROP_ATTEMPTS = 5


# -- pure ------------------------------------------------------------------------------

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


def _pause_before_retry(seconds: float) -> None:
    """Its own name, so a test can replace this wait without replacing `time.sleep` for
    every thread of the process (a background thread's sleeps would land in its record)."""
    clock.sleep(seconds)


@dataclass(frozen=True)
class DayPartitionedTable:
    """One table partitioned by UTC day of `column`. Its name is spelled out rather than
    read from the model: the migrations that convert it use this, and must not depend on
    the model's current state."""

    table: str
    #: The days of rows kept, read when asked (settings may change in tests): partitions
    #: of older days are not created for rows found in the DEFAULT partition.
    keep_days: Callable[[], int] = field(compare=False)
    column: str = "timestamp"

    @property
    def default_partition(self) -> str:
        return f"{self.table}_default"

    def partition_name(self, day: date) -> str:
        return f"{self.table}_p{day:%Y%m%d}"

    def day_of(self, name: str) -> date | None:
        """The day a partition holds, from its name; None for the DEFAULT partition or a
        table this class did not name."""
        match = re.fullmatch(rf"{re.escape(self.table)}_p(\d{{8}})", name)
        return None if match is None else datetime.strptime(match[1], "%Y%m%d").date()

    def is_partitioned(self, conn=connection) -> bool:
        if conn.vendor != "postgresql":
            return False
        with conn.cursor() as cursor:
            cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)",
                           [self.table])
            row = cursor.fetchone()
        return row is not None and row[0] == "p"

    def partitions(self, conn=connection) -> list[str]:
        """The names of the table's partitions (the DEFAULT one included)."""
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = to_regclass(%s) ORDER BY c.relname", [self.table])
            return [name for (name,) in cursor.fetchall()]

    def partition_days(self, conn=connection) -> list[date]:
        return sorted(day for name in self.partitions(conn)
                      if (day := self.day_of(name)) is not None)

    def create_default_partition(self, conn=connection) -> None:
        qn = conn.ops.quote_name
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE TABLE IF NOT EXISTS {qn(self.default_partition)} "
                           f"PARTITION OF {qn(self.table)} DEFAULT")

    def create_day_partitions(self, days: list[date], conn=connection) -> list[str]:
        """Create the partitions of `days` that do not exist; returns the names created.

        Rows the DEFAULT partition holds for a day move into the day's partition in the
        same transaction (PostgreSQL refuses a partition whose rows sit in the DEFAULT one).
        """
        qn = conn.ops.quote_name
        table, default = qn(self.table), qn(self.default_partition)
        existing = set(self.partitions(conn))
        created = []
        for day in sorted(set(days)):
            name = self.partition_name(day)
            if name in existing:
                continue
            low, high = _literal(day_start(day)), _literal(day_start(day + timedelta(days=1)))
            in_day = f"{qn(self.column)} >= {low} AND {qn(self.column)} < {high}"
            with _short_lock_wait(conn) as cursor:
                moved = 0
                if self.default_partition in existing:
                    cursor.execute(f"SELECT EXISTS (SELECT FROM {default} WHERE {in_day})")
                    if cursor.fetchone()[0]:
                        cursor.execute(f"CREATE TEMP TABLE partition_moving (LIKE {table}) "
                                       f"ON COMMIT DROP")
                        cursor.execute(
                            f"WITH moved AS (DELETE FROM {default} WHERE {in_day} "
                            f"RETURNING *) INSERT INTO partition_moving SELECT * FROM moved")
                        moved = cursor.rowcount
                cursor.execute(f"CREATE TABLE {qn(name)} PARTITION OF {table} "
                               f"FOR VALUES FROM ({low}) TO ({high})")
                if moved:
                    cursor.execute(f"INSERT INTO {table} SELECT * FROM partition_moving")
                    cursor.execute("DROP TABLE partition_moving")
            created.append(name)
        return created

    def days_in_default(self, conn=connection) -> list[date]:
        """The UTC days of the rows the DEFAULT partition holds (normally none)."""
        if self.default_partition not in self.partitions(conn):
            return []
        qn = conn.ops.quote_name
        with conn.cursor() as cursor:
            cursor.execute(f"SELECT DISTINCT ({qn(self.column)} AT TIME ZONE 'UTC')::date "
                           f"FROM {qn(self.default_partition)}")
            return sorted(day for (day,) in cursor.fetchall())

    def ensure_partitions(self, *, today: date | None = None, ahead: int = AHEAD_DAYS,
                          behind: int = BEHIND_DAYS, conn=connection) -> list[str]:
        """Create the missing days from `behind` days ago to `ahead` days ahead, and the
        days of the rows the DEFAULT partition holds that are younger than the days kept
        (moving them in). Returns the names created; nothing when not partitioned."""
        if not self.is_partitioned(conn):
            return []
        today = today or datetime.now(UTC).date()
        missing = days_to_create(set(self.partition_days(conn)), today=today, ahead=ahead,
                                 behind=behind)
        oldest = today - timedelta(days=self.keep_days())
        missing += [day for day in self.days_in_default(conn) if day >= oldest]
        return self.create_day_partitions(missing, conn)

    def estimated_rows(self, names: list[str], conn=connection) -> int:
        """The rows of these partitions by the statistics (pg_class.reltuples), read
        nothing."""
        if not names:
            return 0
        with conn.cursor() as cursor:
            cursor.execute("SELECT coalesce(sum(greatest(reltuples, 0)), 0)::bigint "
                           "FROM pg_class WHERE relname = ANY(%s)", [names])
            return cursor.fetchone()[0]

    def drop_partitions_before(self, cutoff: datetime, conn=connection) -> list[str]:
        """Drop the day partitions entirely older than `cutoff`; returns their names. A
        DROP is a catalog change: no row is read, no dead tuple left for VACUUM."""
        qn = conn.ops.quote_name
        dropped = []
        for day in days_to_drop(self.partition_days(conn), cutoff):
            name = self.partition_name(day)
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


#: Every partitioned table, by name, registered by the app that owns it when its module
#: is imported (telemetry.partitions, sales.partitions): `create_partitions` and the
#: daily sweep go through them all.
TABLES: dict[str, DayPartitionedTable] = {}


def register(table: DayPartitionedTable) -> DayPartitionedTable:
    TABLES[table.table] = table
    return table


@dataclass
class DailyEnsure:
    """The watchdog's sweep check: every registered table's partitions ahead, ensured once
    per UTC day per process (the sweep runs every few seconds; the catalog need not be
    read that often). A table whose DDL gave up (a long query held it) leaves the day
    not done, so the next sweep tries again."""

    done_for: date | None = None

    def __call__(self, *, now: datetime) -> None:
        today = now.astimezone(UTC).date()
        if self.done_for == today:
            return
        for table in list(TABLES.values()):
            table.ensure_partitions(today=today)
        self.done_for = today


ensure_partitions_daily = DailyEnsure()
