"""`manage.py prune_telemetry`: delete readings older than the retention period.

On PostgreSQL the readings table is partitioned by day (telemetry.partitions): the days
entirely older than the cutoff are dropped whole, and only the boundary day (and the DEFAULT
partition) are pruned row by row. On SQLite every old row is deleted in batches.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from telemetry import partitions
from telemetry.conf import telemetry_settings
from telemetry.models import MachineError, TelemetryReading


class Command(BaseCommand):
    help = (
        "Delete telemetry readings (and errors resolved) before now - --days "
        "(default TELEMETRY_RETENTION_DAYS), in batches so the table is never locked for long."
    )

    def add_arguments(self, parser):
        default = telemetry_settings().retention_days
        parser.add_argument("--days", type=int, default=None,
                            help=f"days to keep (default TELEMETRY_RETENTION_DAYS, {default})")
        parser.add_argument("--batch-size", type=int, default=10_000)
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")

    def handle(self, *args, days: int | None, batch_size: int, dry_run: bool, **options):
        days = telemetry_settings().retention_days if days is None else days
        if days < 1 or batch_size < 1:
            raise CommandError("--days and --batch-size must be at least 1")
        cutoff = timezone.now() - timedelta(days=days)
        readings = TelemetryReading.objects.filter(timestamp__lt=cutoff)
        errors = MachineError.objects.filter(resolved_at__lt=cutoff)
        partitioned = partitions.is_partitioned()
        old_days = (partitions.days_to_drop(partitions.partition_days(), cutoff)
                    if partitioned else [])
        if dry_run:
            if old_days:
                self.stdout.write(f"would drop {len(old_days)} day partitions "
                                  f"({old_days[0]} to {old_days[-1]})")
            self.stdout.write(f"would delete {readings.count()} readings and {errors.count()} "
                              f"resolved errors older than {cutoff:%Y-%m-%d %H:%M} UTC")
            return
        total = 0
        if partitioned:
            # The planner's estimate: counting the rows would read what the DROP does not.
            estimate = partitions.estimated_rows([partitions.partition_name(d) for d in old_days])
            dropped = partitions.drop_partitions_before(cutoff)
            self.stdout.write(f"dropped {len(dropped)} day partitions "
                              f"(about {estimate} readings)")
        for label, queryset in (("readings", readings), ("resolved errors", errors)):
            deleted = self._delete_in_batches(queryset, batch_size, label)
            total += deleted
            self.stdout.write(f"deleted {deleted} {label} older than {cutoff:%Y-%m-%d %H:%M} UTC")
        self.stdout.write(self.style.SUCCESS(f"pruned {total} rows"))

    def _delete_in_batches(self, queryset, batch_size: int, label: str) -> int:
        deleted = 0
        while True:
            ids = list(queryset.order_by().values_list("pk", flat=True)[:batch_size])
            if not ids:
                return deleted
            # Through `queryset`, whose timestamp bound lets PostgreSQL look in the old
            # partitions only instead of probing every day's index for each id.
            count, _ = queryset.filter(pk__in=ids).delete()
            deleted += count
            self.stdout.write(f"  {label}: {deleted} deleted so far")
