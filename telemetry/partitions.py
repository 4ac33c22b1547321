"""The readings table, range-partitioned by UTC day on PostgreSQL (vendhub.partitioning):
`telemetry_telemetryreading_p20261207`, plus a DEFAULT partition. Retention
(`manage.py prune_telemetry`) drops the days older than TELEMETRY_RETENTION_DAYS whole;
ingestion refuses readings that old, so the DEFAULT partition stays empty.
On SQLite (the embedded default) the table is a plain table.
"""

from __future__ import annotations

from telemetry.conf import telemetry_settings
from vendhub.partitioning import DayPartitionedTable, register

READINGS = register(DayPartitionedTable(
    "telemetry_telemetryreading", keep_days=lambda: telemetry_settings().retention_days))
