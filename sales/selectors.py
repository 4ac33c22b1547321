"""Reads of sales: products and planograms of the user's organizations, the planogram in
force at a time, today's revenue of an organization and of its machines."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime

from django.conf import settings
from django.db.models import (
    Case,
    DateField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from machines.models import Machine, Organization
from machines.selectors import AnyUser, organization_ids_for
from sales.models import DailyMachineSales, Planogram, Product, RecipeItem, Selection


def sales_day(at: datetime, time_zone: str) -> date:
    """The day a sale at `at` counts for: the organization's local date."""
    try:
        zone = zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = timezone.get_default_timezone()
    return at.astimezone(zone).date()


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
    """(revenue, vends) of the organization on `day`, from the daily rollups per machine."""
    totals = DailyMachineSales.objects.filter(organization_id=organization_id, day=day).aggregate(
        revenue=Sum("revenue"), vends=Sum("vends"))
    return totals["revenue"] or 0, totals["vends"] or 0


def sales_today_of(*, organization_id, machine_id, day: date) -> dict[str, int]:
    """The organization's and one of its machines' revenue and vends on `day`, from the
    daily rollups per machine (a few rows a machine, not one per product it sold: every
    vend batch asks), in one query: `{revenue, vends, machineRevenue, machineVends}`."""
    mine = Q(machine_id=machine_id)
    totals = DailyMachineSales.objects.filter(organization_id=organization_id, day=day).aggregate(
        total_revenue=Sum("revenue"), total_vends=Sum("vends"),
        machine_revenue=Sum("revenue", filter=mine), machine_vends=Sum("vends", filter=mine))
    return {"revenue": totals["total_revenue"] or 0, "vends": totals["total_vends"] or 0,
            "machineRevenue": totals["machine_revenue"] or 0,
            "machineVends": totals["machine_vends"] or 0}


def with_revenue_today(machines: QuerySet[Machine], *, user: AnyUser | None,
                       now: datetime | None = None) -> QuerySet[Machine]:
    """`machines` (of `user`'s organizations) annotated with `revenue_today`: each machine's
    revenue on today's date in its organization's time zone, from the daily rollups.

    A correlated subquery in the list's own query (sortable, no query per machine), plus one
    query for the time zones of the user's organizations: today is a different date in
    Tashkent and in Berlin, so the date each machine's rollups are read for is chosen per
    organization time zone."""
    now = now or timezone.now()
    days = {zone: sales_day(now, zone) for zone in
            Organization.objects.filter(id__in=organization_ids_for(user))
            .values_list("time_zone", flat=True).distinct()}
    if len(set(days.values())) == 1:  # the common case: one date for every organization
        day = Value(next(iter(days.values())), output_field=DateField())
    else:
        day = Case(*(When(organization__time_zone=zone, then=Value(local))
                     for zone, local in sorted(days.items())),
                   default=Value(sales_day(now, settings.TIME_ZONE)), output_field=DateField())
    revenue = (DailyMachineSales.objects.filter(machine=OuterRef("pk"),
                                                day=OuterRef("revenue_day"))
               .order_by().values("machine").annotate(total=Sum("revenue")).values("total"))
    return machines.annotate(revenue_day=day, revenue_today=Coalesce(Subquery(revenue), 0))


def machine_revenue_today(machine: Machine, *, now: datetime | None = None) -> int:
    """One machine's revenue today (its organization's time zone), from the daily rollups."""
    day = sales_day(now or timezone.now(), machine.organization.time_zone)
    return DailyMachineSales.objects.filter(machine=machine, day=day).aggregate(
        total=Sum("revenue"))["total"] or 0
