"""Reads of sales: products and planograms of the user's organizations, the planogram in
force at a time, today's revenue of an organization."""

from __future__ import annotations

from datetime import date, datetime

from django.db.models import Prefetch, QuerySet, Sum
from django.utils import timezone

from machines.selectors import AnyUser, organization_ids_for
from sales.models import DailySales, Planogram, Product, RecipeItem, Selection


def products_for(user: AnyUser | None) -> QuerySet[Product]:
    """Products of the organizations `user` belongs to."""
    return Product.objects.filter(organization_id__in=organization_ids_for(user))


def planograms_with_selections(planograms: QuerySet[Planogram]) -> QuerySet[Planogram]:
    """`planograms` with their selections, products and recipes (three extra queries)."""
    return planograms.prefetch_related(
        Prefetch(
            "selections",
            queryset=Selection.objects.select_related("product").order_by("code").prefetch_related(
                Prefetch("recipe", queryset=RecipeItem.objects.select_related("ingredient")
                         .order_by("ingredient__name"))
            ),
        )
    )


def planogram_at(machine, at: datetime | None = None) -> Planogram | None:
    """The planogram version of `machine` in force at `at` (now if None): the latest with
    `effective_from <= at`; None before the first one. Selections prefetched."""
    at = at or timezone.now()
    return (
        planograms_with_selections(Planogram.objects.filter(machine=machine,
                                                            effective_from__lte=at))
        .order_by("-effective_from").first()
    )


def planogram_versions(*, machine_id, until: datetime) -> list[Planogram]:
    """Every version of the machine in force at some time up to `until`, oldest first, with
    selections (for reading a batch of vends spread over time)."""
    return list(
        planograms_with_selections(Planogram.objects.filter(machine_id=machine_id,
                                                            effective_from__lte=until))
        .order_by("effective_from")
    )


def revenue_on(*, organization_id, day: date) -> tuple[int, int]:
    """(revenue, vends) of the organization on `day`, from the daily rollups."""
    totals = DailySales.objects.filter(organization_id=organization_id, day=day).aggregate(
        revenue=Sum("revenue"), vends=Sum("vends"))
    return totals["revenue"] or 0, totals["vends"] or 0
