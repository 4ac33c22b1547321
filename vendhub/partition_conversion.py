"""Convert a plain table into one range-partitioned by day (vendhub.partitioning), or back,
without losing a row: what a migration runs for each such table.

The old table is renamed aside; the new one is created under the old name with the same
columns, constraints and indexes (the primary key becomes (id, time column): PostgreSQL
wants the partition key in every unique constraint, so a table's other unique constraints
must already hold it, or be dropped before); day partitions cover every day the old table
holds and the days around today (a DEFAULT partition catches the rest); the rows are copied
in chunks of the primary key's order, counted, and the old table dropped.

It runs in the migration's transaction: readers and writers wait for it (about the time of
copying the rows: see bench/partitions.py), and a failure leaves the table as it was.
On SQLite nothing is done: the embedded default keeps plain tables.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import migrations

from vendhub.partitioning import (
    AHEAD_DAYS,
    BEHIND_DAYS,
    DayPartitionedTable,
    days_between,
)

#: Rows copied per statement: one statement per chunk keeps each one's memory bounded
#: (a test makes it small, to copy in many chunks).
CHUNK = 50_000


def _constraints(cursor, table):
    cursor.execute(
        "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = to_regclass(%s) AND contype IN ('p', 'u', 'f') ORDER BY contype",
        [table])
    return cursor.fetchall()


def _plain_indexes(cursor, table):
    """Indexes that back no constraint (Django's indexes on foreign keys, Meta.indexes)."""
    cursor.execute(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = to_regclass(%s) "
        "AND NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = i.indexrelid "
        "AND k.conrelid = i.indrelid)", [table])
    return cursor.fetchall()


def _set_aside(cursor, qn, table, aside):
    """Rename the table and free its index names; keep its primary key's index (renamed),
    which orders the chunked copy."""
    constraints = _constraints(cursor, table)
    indexes = _plain_indexes(cursor, table)
    cursor.execute(f"ALTER TABLE {qn(table)} RENAME TO {qn(aside)}")
    for name, kind, _definition in constraints:
        if kind == "p":
            cursor.execute(f"ALTER TABLE {qn(aside)} RENAME CONSTRAINT {qn(name)} "
                           f"TO {qn(aside + '_pkey')}")
        else:
            cursor.execute(f"ALTER TABLE {qn(aside)} DROP CONSTRAINT {qn(name)}")
    for name, _definition in indexes:
        cursor.execute(f"DROP INDEX {qn(name)}")
    return constraints, indexes


def _recreate(cursor, qn, table, aside, column, constraints, indexes, *, partitioned):
    by = f" PARTITION BY RANGE ({qn(column)})" if partitioned else ""
    cursor.execute(f"CREATE TABLE {qn(table)} (LIKE {qn(aside)} INCLUDING DEFAULTS){by}")
    for name, kind, definition in constraints:
        if kind == "p":
            definition = (f"PRIMARY KEY (id, {qn(column)})" if partitioned
                          else "PRIMARY KEY (id)")
        cursor.execute(f"ALTER TABLE {qn(table)} ADD CONSTRAINT {qn(name)} {definition}")
    for _name, definition in indexes:
        # The definition names the table it was read from, which is `table` again; ONLY
        # (an index of a partitioned table) would leave the partitions without it.
        cursor.execute(definition.replace(" ON ONLY ", " ON ", 1))


def _copy(cursor, qn, table, aside, chunk):
    """INSERT ... SELECT in chunks along the primary key; returns the rows copied."""
    copied, last = 0, None
    while True:
        after = "" if last is None else "WHERE id > %s"
        params = [] if last is None else [last]
        cursor.execute(f"SELECT id FROM {qn(aside)} {after} ORDER BY id "
                       f"OFFSET {chunk - 1} LIMIT 1", params)
        row = cursor.fetchone()
        upto = "" if row is None else ("AND id <= %s" if after else "WHERE id <= %s")
        cursor.execute(f"INSERT INTO {qn(table)} SELECT * FROM {qn(aside)} {after} {upto}",
                       params + ([] if row is None else [row[0]]))
        copied += cursor.rowcount
        if row is None:
            return copied
        last = row[0]


def converting(target: DayPartitionedTable) -> migrations.RunPython:
    """A migration's operation making `target` partitioned, and plain again backwards."""

    def partition(apps, schema_editor):
        convert(schema_editor, target, partitioned=True)

    def unpartition(apps, schema_editor):
        convert(schema_editor, target, partitioned=False)

    return migrations.RunPython(partition, unpartition, elidable=False)


def convert(schema_editor, target: DayPartitionedTable, *, partitioned: bool) -> None:
    """Make `target` partitioned by day (or plain again, `partitioned=False`), keeping
    every row; nothing when it already is, or on SQLite."""
    conn = schema_editor.connection
    if conn.vendor != "postgresql" or target.is_partitioned(conn) == partitioned:
        return
    qn = conn.ops.quote_name
    table, aside, column = target.table, f"{target.table}_converting", target.column
    with conn.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {qn(table)} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(f"SELECT count(*), min({qn(column)}), max({qn(column)}) "
                       f"FROM {qn(table)}")
        before, oldest, newest = cursor.fetchone()
        constraints, indexes = _set_aside(cursor, qn, table, aside)
        _recreate(cursor, qn, table, aside, column, constraints, indexes,
                  partitioned=partitioned)
    if partitioned:
        today = datetime.now(UTC).date()
        first, last = today - timedelta(days=BEHIND_DAYS), today + timedelta(days=AHEAD_DAYS)
        if oldest is not None:
            first = min(first, oldest.astimezone(UTC).date())
            last = max(last, newest.astimezone(UTC).date())
        target.create_default_partition(conn)
        target.create_day_partitions(days_between(first, last), conn)
    with conn.cursor() as cursor:
        after = _copy(cursor, qn, table, aside, CHUNK)
        if after != before:
            raise RuntimeError(f"{table}: {before} rows before, {after} copied: rolled back")
        cursor.execute(f"DROP TABLE {qn(aside)}")
        # The copied rows' foreign-key checks (Django's are deferred to the commit) fire
        # now: pending, they forbid any later ALTER of the table in the same migration
        # (a unique constraint put back after unpartitioning). Deferred again after.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
