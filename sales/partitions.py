"""The vends table, range-partitioned by UTC day on PostgreSQL (vendhub.partitioning):
`sales_vend_p20261207`, plus a DEFAULT partition. Retention (`manage.py prune_vends`) drops
the days older than SALES_VEND_RETENTION_DAYS whole; ingestion refuses vends that old, so
the DEFAULT partition stays empty. On SQLite (the embedded default) the table is plain.
"""

from __future__ import annotations

from sales.conf import vend_retention_days
from vendhub.partitioning import DayPartitionedTable, register

VENDS = register(DayPartitionedTable("sales_vend", keep_days=vend_retention_days))
