"""Readings become a table range-partitioned by day on PostgreSQL (telemetry.partitions).

Converts an existing table without losing a row: the old table is renamed aside, the
partitioned one is created under the old name with the same columns, constraints and
indexes (the primary key becomes (id, timestamp): PostgreSQL wants the partition key in
every unique constraint; (machine, timestamp), the idempotency of ingestion, has it already),
day partitions cover every day the old table holds and the days around today (a
DEFAULT partition catches the rest), the rows are
copied in chunks of the primary key's order, counted, and the old table dropped.

The migration runs in one transaction: readers and writers wait for it (about the time of
copying the rows: see bench/partitions.py), and a failure leaves the table as it was.
Reversible: backwards the rows go back into a plain table the same way.
SQLite (the embedded default) keeps its plain table: nothing to do.
"""

from datetime import UTC, datetime, timedelta

from django.db import migrations

from telemetry import partitions

TABLE = partitions.TABLE
ASIDE = f"{TABLE}_converting"
CHUNK = 50_000


def _constraints(cursor, table):
    cursor.execute(
        "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = to_regclass(%s) AND contype IN ('p', 'u', 'f') ORDER BY contype",
        [table])
    return cursor.fetchall()


def _plain_indexes(cursor, table):
    """Indexes that back no constraint (Django's index on the machine foreign key)."""
    cursor.execute(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = to_regclass(%s) "
        "AND NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = i.indexrelid "
        "AND k.conrelid = i.indrelid)", [table])
    return cursor.fetchall()


def _set_aside(cursor, qn):
    """Rename the table and free its index names; keep its primary key's index (renamed),
    which orders the chunked copy."""
    constraints = _constraints(cursor, TABLE)
    indexes = _plain_indexes(cursor, TABLE)
    cursor.execute(f"ALTER TABLE {qn(TABLE)} RENAME TO {qn(ASIDE)}")
    for name, kind, _definition in constraints:
        if kind == "p":
            cursor.execute(f"ALTER TABLE {qn(ASIDE)} RENAME CONSTRAINT {qn(name)} "
                           f"TO {qn(ASIDE + '_pkey')}")
        else:
            cursor.execute(f"ALTER TABLE {qn(ASIDE)} DROP CONSTRAINT {qn(name)}")
    for name, _definition in indexes:
        cursor.execute(f"DROP INDEX {qn(name)}")
    return constraints, indexes


def _recreate(cursor, qn, constraints, indexes, *, partitioned):
    by = ' PARTITION BY RANGE ("timestamp")' if partitioned else ""
    cursor.execute(f"CREATE TABLE {qn(TABLE)} (LIKE {qn(ASIDE)} INCLUDING DEFAULTS){by}")
    for name, kind, definition in constraints:
        if kind == "p":
            definition = 'PRIMARY KEY (id, "timestamp")' if partitioned else "PRIMARY KEY (id)"
        cursor.execute(f"ALTER TABLE {qn(TABLE)} ADD CONSTRAINT {qn(name)} {definition}")
    for _name, definition in indexes:
        # The definition names the table it was read from, which is TABLE again; ONLY (an
        # index of a partitioned table) would leave the partitions without it.
        cursor.execute(definition.replace(" ON ONLY ", " ON ", 1))


def _copy(cursor, qn):
    """INSERT ... SELECT in chunks along the primary key; returns the rows copied."""
    copied, last = 0, None
    while True:
        after = "" if last is None else "WHERE id > %s"
        params = [] if last is None else [last]
        cursor.execute(f"SELECT id FROM {qn(ASIDE)} {after} ORDER BY id "
                       f"OFFSET {CHUNK - 1} LIMIT 1", params)
        row = cursor.fetchone()
        upto = "" if row is None else ("AND id <= %s" if after else "WHERE id <= %s")
        cursor.execute(f"INSERT INTO {qn(TABLE)} SELECT * FROM {qn(ASIDE)} {after} {upto}",
                       params + ([] if row is None else [row[0]]))
        copied += cursor.rowcount
        if row is None:
            return copied
        last = row[0]


def _convert(schema_editor, *, partitioned):
    conn = schema_editor.connection
    if conn.vendor != "postgresql" or partitions.is_partitioned(conn) == partitioned:
        return
    qn = conn.ops.quote_name
    with conn.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {qn(TABLE)} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(f'SELECT count(*), min("timestamp"), max("timestamp") FROM {qn(TABLE)}')
        before, oldest, newest = cursor.fetchone()
        constraints, indexes = _set_aside(cursor, qn)
        _recreate(cursor, qn, constraints, indexes, partitioned=partitioned)
    if partitioned:
        today = datetime.now(UTC).date()
        first = today - timedelta(days=partitions.BEHIND_DAYS)
        last = today + timedelta(days=partitions.AHEAD_DAYS)
        if oldest is not None:
            first = min(first, oldest.astimezone(UTC).date())
            last = max(last, newest.astimezone(UTC).date())
        partitions.create_default_partition(conn)
        partitions.create_day_partitions(partitions.days_between(first, last), conn)
    with conn.cursor() as cursor:
        after = _copy(cursor, qn)
        if after != before:
            raise RuntimeError(f"{TABLE}: {before} rows before, {after} copied: rolled back")
        cursor.execute(f"DROP TABLE {qn(ASIDE)}")


def partition(apps, schema_editor):
    _convert(schema_editor, partitioned=True)


def unpartition(apps, schema_editor):
    _convert(schema_editor, partitioned=False)


class Migration(migrations.Migration):

    dependencies = [
        ("telemetry", "0002_device_keys_and_health"),
    ]

    operations = [
        migrations.RunPython(partition, unpartition, elidable=False),
    ]
