"""`manage.py create_partitions`: the day partitions of every partitioned table (readings,
vends: vendhub.partitioning.TABLES), created ahead."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from vendhub.partitioning import AHEAD_DAYS, BEHIND_DAYS, TABLES


class Command(BaseCommand):
    help = (
        "Create the day partitions of the telemetry readings and the vends (PostgreSQL) from "
        "--behind days ago to --ahead days ahead, and the days of any row a DEFAULT "
        "partition holds (moving them in). The watchdog's sweep does the same once a day. "
        "Nothing to do on SQLite, whose tables are not partitioned."
    )

    def add_arguments(self, parser):
        parser.add_argument("--ahead", type=int, default=AHEAD_DAYS,
                            help=f"days ahead of today (default {AHEAD_DAYS})")
        parser.add_argument("--behind", type=int, default=BEHIND_DAYS,
                            help=f"days before today (default {BEHIND_DAYS})")

    def handle(self, *args, ahead: int, behind: int, **options):
        if ahead < 0 or behind < 0:
            raise CommandError("--ahead and --behind must be at least 0")
        for table in TABLES.values():
            if not table.is_partitioned():
                self.stdout.write(f"{table.table} is not partitioned "
                                  f"({connection.vendor}): nothing to do")
                continue
            created = table.ensure_partitions(ahead=ahead, behind=behind)
            for name in created:
                self.stdout.write(f"created {name}")
            days = table.partition_days()
            summary = f"{table.table}: {len(created)} partition(s) created"
            if days:
                summary += f"; {len(days)} day partitions from {days[0]} to {days[-1]}"
            self.stdout.write(self.style.SUCCESS(summary))
