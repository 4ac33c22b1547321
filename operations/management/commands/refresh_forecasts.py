"""`manage.py refresh_forecasts`: recompute every machine's forecasts now (after an import of
history, or to see a change of the rules at once; otherwise batches and the watchdog keep
them current)."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils import timezone

from operations.forecasting import machines_with_stock, refresh_forecasts


class Command(BaseCommand):
    help = "Recompute the run-out forecasts of every machine with bunkers or slots."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--organization", help="only this organization's machines (slug)")

    def handle(self, *args, organization: str | None = None, **options) -> None:
        machines = machines_with_stock().order_by("organization_id", "name", "pk")
        if organization:
            machines = machines.filter(organization__slug=organization)
        total = machines.count()
        changed = 0
        for done, machine in enumerate(machines.iterator(chunk_size=200), start=1):
            changed += refresh_forecasts(machine, now=timezone.now())
            if done == total or done % 50 == 0:
                self.stdout.write(f"{done}/{total} machines")
        self.stdout.write(self.style.SUCCESS(
            f"refreshed {total} machines ({changed} with news for the live pages)"))
