"""The two queries the product makes of readings are served by an index on
(machine, timestamp): "the latest reading of a machine" and "the readings of a machine in a
time range". Checked on PostgreSQL with EXPLAIN, sequential scans switched off so the tiny
test table cannot make the planner prefer one."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from telemetry.models import TelemetryReading
from telemetry.selectors import latest_reading
from tests.conftest import require_postgresql
from tests.factories import make_reading

pytestmark = pytest.mark.django_db


def index_columns() -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(
            cursor, TelemetryReading._meta.db_table)
    return {name: c["columns"] for name, c in constraints.items() if c["index"] or c["unique"]}


def plan_of(queryset) -> str:
    require_postgresql("EXPLAIN plans are PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
    return queryset.explain()


def uses_the_reading_index(plan: str, scan: str) -> bool:
    """On the partitioned table (PostgreSQL) each day's partition scans its own copy of
    unique_reading_per_instant, named after the partition."""
    return re.search(rf"{scan}( Backward)? using (unique_reading_per_instant|"
                     r"telemetry_telemetryreading_\w+_machine_id_timestamp_key)", plan) is not None


def test_readings_have_an_index_on_machine_then_timestamp():
    assert ["machine_id", "timestamp"] in index_columns().values()


def test_the_latest_reading_of_a_machine_is_an_index_scan(personas):
    now = timezone.now()
    for minutes in range(5):
        make_reading(personas.machine, timestamp=now - timedelta(minutes=minutes))
    assert latest_reading(personas.machine).timestamp == now
    query = TelemetryReading.objects.filter(machine=personas.machine).order_by("-timestamp")[:1]
    plan = plan_of(query)
    assert uses_the_reading_index(plan, "Index Scan Backward"), plan
    assert "Sort  (" not in plan, plan  # no Sort node (a Merge Append's "Sort Key" is fine)


def test_readings_in_a_time_range_are_an_index_range_scan(personas):
    now = timezone.now()
    query = TelemetryReading.objects.filter(
        machine=personas.machine, timestamp__gte=now - timedelta(hours=1), timestamp__lt=now)
    plan = plan_of(query)
    assert uses_the_reading_index(plan, "Index Scan"), plan
    assert "timestamp" in plan.split("Index Cond:")[1], plan
