"""Writes of sales outside the device path: products and planogram versions.

Vend ingestion is in `sales.ingest`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from machines.models import Machine
from sales.models import Planogram, RecipeItem, Selection

#: What apps built on sales do when a planogram version is created, in its transaction,
#: called as `hook(planogram=, selections=, now=)` (operations stocks new slots at
#: capacity), registered in their AppConfig.ready: sales does not import them.
PLANOGRAM_HOOKS: list[Callable[..., object]] = []


@dataclass(frozen=True)
class RecipeSpec:
    ingredient_id: object
    grams: int


@dataclass(frozen=True)
class SelectionSpec:
    code: str
    product_id: object
    price: int
    capacity: int | None = None
    par_level: int | None = None
    recipe: Sequence[RecipeSpec] = field(default_factory=tuple)


def create_planogram_version(*, machine: Machine, selections: Sequence[SelectionSpec],
                             actor=None, effective_from: datetime | None = None) -> Planogram:
    """A new planogram version of `machine`, in force from `effective_from` (now). Earlier
    versions stay as they were: vends and audits of their time are read with them."""
    effective_from = effective_from or timezone.now()
    with transaction.atomic():
        # Two saves in the same microsecond would collide on (machine, effective_from):
        # lock the machine so versions of one machine are created one after the other.
        Machine.objects.select_for_update(of=("self",)).filter(pk=machine.pk).first()
        latest = (Planogram.objects.filter(machine=machine).order_by("-effective_from")
                  .values_list("effective_from", flat=True).first())
        if latest is not None and latest >= effective_from:
            effective_from = latest + timedelta(microseconds=1)
        planogram = Planogram.objects.create(machine=machine, effective_from=effective_from,
                                             created_by=actor)
        rows = Selection.objects.bulk_create([
            Selection(planogram=planogram, code=spec.code, product_id=spec.product_id,
                      price=spec.price, capacity=spec.capacity, par_level=spec.par_level)
            for spec in selections
        ])
        RecipeItem.objects.bulk_create([
            RecipeItem(selection=row, ingredient_id=item.ingredient_id, grams=item.grams)
            for row, spec in zip(rows, selections, strict=True) for item in spec.recipe
        ])
        for hook in PLANOGRAM_HOOKS:
            hook(planogram=planogram, selections=rows, now=timezone.now())
    return planogram
