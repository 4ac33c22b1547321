"""What `manage.py prune_telemetry` and `manage.py prune_vends` share: retention of a
table partitioned by day (vendhub.partitioning) and of the rows that go with it.

On PostgreSQL the days entirely older than the cutoff are dropped whole; only the boundary
day (and the DEFAULT partition) are pruned row by row, as are the companion rows (resolved
errors, vend keys). On SQLite every old row is deleted in batches.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db.models import QuerySet
from django.utils import timezone

from vendhub.partitioning import DayPartitionedTable, days_to_drop


class PruneCommand(BaseCommand):
    """Subclasses name the partitioned table, the setting of its retention, and what to
    delete row by row (`doomed`: the partitioned table's rows first)."""

    table: DayPartitionedTable
    setting: str  # the setting of the days kept, for the help and the messages
    rows: str  # what the partitioned table holds, "readings"

    def doomed(self, cutoff: datetime) -> list[tuple[str, QuerySet]]:
        raise NotImplementedError

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None,
                            help=f"days to keep (default {self.setting}, "
                                 f"{self.table.keep_days()})")
        parser.add_argument("--batch-size", type=int, default=10_000)
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")

    def handle(self, *args, days: int | None, batch_size: int, dry_run: bool, **options):
        days = self.table.keep_days() if days is None else days
        if days < 1 or batch_size < 1:
            raise CommandError("--days and --batch-size must be at least 1")
        cutoff = timezone.now() - timedelta(days=days)
        doomed = self.doomed(cutoff)
        partitioned = self.table.is_partitioned()
        old_days = days_to_drop(self.table.partition_days(), cutoff) if partitioned else []
        when = f"older than {cutoff:%Y-%m-%d %H:%M} UTC"
        if dry_run:
            if old_days:
                self.stdout.write(f"would drop {len(old_days)} day partitions "
                                  f"({old_days[0]} to {old_days[-1]})")
            self.stdout.write("would delete " + " and ".join(
                f"{queryset.count()} {label}" for label, queryset in doomed) + f" {when}")
            return
        total = 0
        if partitioned:
            # The planner's estimate: counting the rows would read what the DROP does not.
            estimate = self.table.estimated_rows([self.table.partition_name(d)
                                                  for d in old_days])
            dropped = self.table.drop_partitions_before(cutoff)
            self.stdout.write(f"dropped {len(dropped)} day partitions "
                              f"(about {estimate} {self.rows})")
        for label, queryset in doomed:
            deleted = self._delete_in_batches(queryset, batch_size, label)
            total += deleted
            self.stdout.write(f"deleted {deleted} {label} {when}")
        self.stdout.write(self.style.SUCCESS(f"pruned {total} rows"))

    def _delete_in_batches(self, queryset: QuerySet, batch_size: int, label: str) -> int:
        deleted = 0
        while True:
            ids = list(queryset.order_by().values_list("pk", flat=True)[:batch_size])
            if not ids:
                return deleted
            # Through `queryset`, whose time bound lets PostgreSQL look in the old
            # partitions only instead of probing every day's index for each id.
            count, _ = queryset.filter(pk__in=ids).delete()
            deleted += count
            self.stdout.write(f"  {label}: {deleted} deleted so far")
