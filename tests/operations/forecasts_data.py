"""Histories for the forecast tests: readings of bunker levels and vends, stored directly."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from django.utils import timezone

from sales.models import Product, Vend
from sales.services import SelectionSpec, create_planogram_version
from telemetry.models import TelemetryReading

_transactions = itertools.count(1)


def store_levels(machine, levels: dict, *, now: datetime, hours: int,
                 every_minutes: int = 15) -> None:
    """Readings of `machine` every `every_minutes` for `hours` up to `now`: each bunker of
    `levels` ({Bunker: (level at the start, grams per hour)}) falling at its rate."""
    steps = hours * 60 // every_minutes
    rows = []
    for step in range(steps + 1):
        at = now - timedelta(hours=hours) + timedelta(minutes=step * every_minutes)
        elapsed = step * every_minutes / 60
        rows.append(TelemetryReading(machine=machine, timestamp=at, status="online",
                                     bunker_levels=[
                                         {"bunkerId": str(b.pk),
                                          "currentLevel": max(0, round(start - rate * elapsed))}
                                         for b, (start, rate) in levels.items()]))
    TelemetryReading.objects.bulk_create(rows)
    last = rows[-1].bunker_levels
    for bunker in levels:
        level = next(e["currentLevel"] for e in last if e["bunkerId"] == str(bunker.pk))
        type(bunker).objects.filter(pk=bunker.pk).update(current_level_grams=level,
                                                         updated_at=now - timedelta(hours=1))
        bunker.refresh_from_db()


def snack_planogram(machine, *, effective_from: datetime, capacity: int = 10):
    """`machine` sells Snickers from spiral "A1" (`capacity` of them)."""
    product, _ = Product.objects.get_or_create(organization=machine.organization, sku="SNK",
                                               defaults={"name": "Snickers"})
    return create_planogram_version(machine=machine, effective_from=effective_from,
                                    selections=[SelectionSpec("A1", product.pk, 12000,
                                                              capacity=capacity, par_level=8)])


def store_vends(machine, code: str, times: list[datetime]) -> None:
    Vend.objects.bulk_create([
        Vend(machine=machine, transaction_id=f"h-{next(_transactions)}", selection=code,
             price=12000, payment_method="card", timestamp=at) for at in times])


def now() -> datetime:
    return timezone.now().replace(microsecond=0)
