"""Readings become a table range-partitioned by day on PostgreSQL (telemetry.partitions).

Converts an existing table without losing a row (vendhub.partition_conversion): the
primary key becomes (id, timestamp); (machine, timestamp), the idempotency of ingestion,
holds the partition key already. Reversible; SQLite keeps its plain table.
"""

from django.db import migrations

from telemetry.partitions import READINGS
from vendhub.partition_conversion import converting


class Migration(migrations.Migration):

    dependencies = [
        ("telemetry", "0002_device_keys_and_health"),
    ]

    operations = [
        converting(READINGS),
    ]
