"""Migration sales 0005 gives every stored vend its key and converts the vends table into
the partitioned one without losing a row (every id and value identical, copied in chunks),
and back, where the unique (machine, transaction id) constraint returns."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction

from sales.partitions import VENDS
from tests.conftest import require_postgresql
from tests.factories import make_personas
from tests.migrating import migrate
from vendhub import partition_conversion

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("sales", "0004_narrow_daily_rollups")
PARTITIONED = ("sales", "0005_vend_keys_and_partitions")
COLUMNS = ("id, created_at, updated_at, machine_id, transaction_id, selection, product_id, "
           'price, payment_method, provider, "timestamp"')


def rows(sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def all_vends() -> list[tuple]:
    return rows(f"SELECT {COLUMNS} FROM sales_vend ORDER BY id")


def insert_vends(machine_ids) -> None:
    """Vends from 300 days ago to 10 days ahead on two machines, one transaction id on
    both, by plain SQL (the historical table at 0004 has no model to go through)."""
    now = datetime.now(UTC).replace(microsecond=654321)
    vends = [(uuid.uuid4(), now, now, machine_ids[n % 2], f"tx-{n // 2}", str(n % 9), None,
              1000 * n, "cash" if n % 3 else "card", "" if n % 4 else "Payme",
              now - timedelta(days=300) + timedelta(days=n, minutes=n)) for n in range(310)]
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO sales_vend ({COLUMNS}) VALUES "
                           "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", vends)


def test_converting_stored_vends_keeps_every_row_keys_them_and_goes_back(monkeypatch):
    require_postgresql("partitioning is PostgreSQL's")
    monkeypatch.setattr(partition_conversion, "CHUNK", 11)  # many chunks, and a last partial one
    personas = make_personas()
    machines = [personas.machine.pk, personas.rival_machine.pk]
    try:
        migrate([BEFORE])
        assert not VENDS.is_partitioned()
        insert_vends(machines)
        before = all_vends()

        migrate([PARTITIONED])
        assert VENDS.is_partitioned()
        assert all_vends() == before
        assert rows(f"SELECT count(*) FROM {VENDS.default_partition}") == [(0,)]
        keys = rows('SELECT machine_id, transaction_id, "timestamp" FROM sales_vendkey')
        assert sorted(keys) == sorted((r[3], r[4], r[10]) for r in before)
        with pytest.raises(IntegrityError), transaction.atomic():  # the key table holds it
            with connection.cursor() as cursor:
                cursor.execute("INSERT INTO sales_vendkey VALUES (%s, 'tx-0', now())",
                               [machines[0]])

        migrate([BEFORE])
        assert not VENDS.is_partitioned()
        assert all_vends() == before
        with connection.cursor() as cursor:
            constraints = connection.introspection.get_constraints(cursor, VENDS.table)
        unique = constraints["unique_vend_transaction_per_machine"]
        assert unique["unique"] and unique["columns"] == ["machine_id", "transaction_id"]
    finally:
        migrate([PARTITIONED])
    assert VENDS.is_partitioned()
    assert all_vends() == before
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, VENDS.table)
    assert any(c["foreign_key"] == ("machines_machine", "id") for c in constraints.values())
    assert any(c["columns"] == ["machine_id", "timestamp"] and c["index"]
               for c in constraints.values())
