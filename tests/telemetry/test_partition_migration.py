"""Migration telemetry 0003 converts an existing, unpartitioned readings table into the
partitioned one without losing a row (every id and value identical, in chunks), and back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from telemetry.partitions import READINGS
from tests.conftest import require_postgresql
from tests.factories import make_personas
from tests.migrating import migrate
from vendhub import partition_conversion

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("telemetry", "0002_device_keys_and_health")
PARTITIONED = ("telemetry", "0003_partition_readings")
COLUMNS = ('id, created_at, updated_at, machine_id, "timestamp", status, temperature, '
           "humidity, uptime_seconds, last_sale_at, bunker_levels::text")


def all_rows() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {COLUMNS} FROM {READINGS.table} ORDER BY id")
        return cursor.fetchall()


def insert_rows(machine_ids) -> None:
    """Readings from 200 days ago to 20 days ahead, with nulls and JSON, by plain SQL (the
    historical table at 0002 has no model to go through)."""
    now = datetime.now(UTC).replace(microsecond=123456)
    rows = []
    for n in range(230):
        at = now - timedelta(days=200) + timedelta(days=n, minutes=n)
        rows.append((uuid.uuid4(), now, now, machine_ids[n % 2], at,
                     "online" if n % 3 else "error", None if n % 5 == 0 else 20 + n / 7,
                     40.5, 2**40 + n, None if n % 2 else at - timedelta(minutes=3),
                     f'[{{"bunkerId": "b{n}", "currentLevel": {n}}}]'))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {READINGS.table} (id, created_at, updated_at, machine_id, "
            '"timestamp", status, temperature, humidity, uptime_seconds, last_sale_at, '
            "bunker_levels) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)", rows)


def test_converting_a_populated_table_keeps_every_row_and_goes_back(monkeypatch):
    require_postgresql("partitioning is PostgreSQL's")
    monkeypatch.setattr(partition_conversion, "CHUNK", 7)  # many chunks, and a last partial one
    personas = make_personas()
    try:
        migrate([BEFORE])
        assert not READINGS.is_partitioned()
        insert_rows([personas.machine.pk, personas.rival_machine.pk])
        before = all_rows()

        migrate([PARTITIONED])
        assert READINGS.is_partitioned()
        assert all_rows() == before
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {READINGS.default_partition}")
            assert cursor.fetchone()[0] == 0  # every day of the old rows has its partition
        days = READINGS.partition_days()
        assert days[0] <= min(r[4] for r in before).date()
        assert max(r[4] for r in before).date() <= days[-1]

        migrate([BEFORE])
        assert not READINGS.is_partitioned()
        assert all_rows() == before
    finally:
        migrate([PARTITIONED])
    assert READINGS.is_partitioned()
    assert all_rows() == before
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, READINGS.table)
    assert constraints["unique_reading_per_instant"]["columns"] == ["machine_id", "timestamp"]
    assert any(c["foreign_key"] == ("machines_machine", "id") for c in constraints.values())
