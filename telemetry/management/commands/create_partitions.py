"""`manage.py create_partitions`: the readings table's day partitions, created ahead."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from telemetry import partitions
from telemetry.conf import telemetry_settings


class Command(BaseCommand):
    help = (
        "Create the day partitions of the telemetry readings (PostgreSQL) from --behind days "
        "ago to --ahead days ahead, and the days of any row the DEFAULT partition holds "
        "(moving them in). The watchdog's sweep does the same once a day. Nothing to do on "
        "SQLite, whose table is not partitioned."
    )

    def add_arguments(self, parser):
        parser.add_argument("--ahead", type=int, default=partitions.AHEAD_DAYS,
                            help=f"days ahead of today (default {partitions.AHEAD_DAYS})")
        parser.add_argument("--behind", type=int, default=partitions.BEHIND_DAYS,
                            help=f"days before today (default {partitions.BEHIND_DAYS})")

    def handle(self, *args, ahead: int, behind: int, **options):
        if ahead < 0 or behind < 0:
            raise CommandError("--ahead and --behind must be at least 0")
        if not partitions.is_partitioned():
            self.stdout.write(f"{partitions.TABLE} is not partitioned "
                              f"({connection.vendor}): nothing to do")
            return
        created = partitions.ensure_partitions(
            ahead=ahead, behind=behind, keep_days=telemetry_settings().retention_days)
        for name in created:
            self.stdout.write(f"created {name}")
        days = partitions.partition_days()
        self.stdout.write(self.style.SUCCESS(
            f"{len(created)} partition(s) created; {len(days)} day partitions "
            f"from {days[0]} to {days[-1]}" if days else f"{len(created)} partition(s) created"))
