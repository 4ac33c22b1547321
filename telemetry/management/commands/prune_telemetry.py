"""`manage.py prune_telemetry`: delete readings older than the retention period.

On PostgreSQL the readings table is partitioned by day (telemetry.partitions): the days
entirely older than the cutoff are dropped whole, and only the boundary day (and the DEFAULT
partition) are pruned row by row. On SQLite every old row is deleted in batches.
"""

from __future__ import annotations

from telemetry.models import MachineError, TelemetryReading
from telemetry.partitions import READINGS
from vendhub.pruning import PruneCommand


class Command(PruneCommand):
    help = (
        "Delete telemetry readings (and errors resolved) before now - --days "
        "(default TELEMETRY_RETENTION_DAYS), in batches so the table is never locked for long."
    )
    table = READINGS
    setting = "TELEMETRY_RETENTION_DAYS"
    rows = "readings"

    def doomed(self, cutoff):
        return [("readings", TelemetryReading.objects.filter(timestamp__lt=cutoff)),
                ("resolved errors", MachineError.objects.filter(resolved_at__lt=cutoff))]
