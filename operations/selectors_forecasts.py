"""Reads of forecasts, scoped to the viewer's organizations, and the documents REST and
`machine:forecast` share."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from django.db.models import Min, OuterRef, QuerySet, Subquery

from machines.models import Machine
from machines.selectors import AnyUser, organization_ids_for
from operations.models import Forecast
from sales.models import Planogram, Selection
from telemetry.selectors import iso8601


class ForecastDocument(TypedDict):
    """One bunker's or slot's forecast, as REST and `machine:forecast` carry it."""

    machineId: str
    kind: str  # "bunker" | "slot"
    bunkerId: str | None
    slotCode: str
    name: str  # the bunker's ingredient, the slot's product ("" when unknown)
    unit: str  # "g" | "pcs"
    level: int
    ratePerHour: float
    runsOutAt: str | None  # ISO 8601 UTC; null: not within 30 days, or no consumption
    earliestAt: str | None  # the interval that holds the run-out 80 % of the time
    latestAt: str | None  # null: unbounded
    method: str  # "recent" | "profile" | "none" (operations.models.ForecastMethod)
    samples: int  # observed hours the rate was learned from
    computedAt: str


def forecasts_for(user: AnyUser | None) -> QuerySet[Forecast]:
    """Forecasts of the machines of the user's organizations (every role reads them)."""
    return (Forecast.objects.filter(machine__organization_id__in=organization_ids_for(user))
            .select_related("machine", "bunker__ingredient"))


def slot_names(machine_id) -> dict[str, str]:
    """`{selection code: product name}` of the machine's latest planogram version, in one
    query."""
    latest = (Planogram.objects.filter(machine_id=machine_id).order_by("-effective_from")
              .values("pk")[:1])
    return dict(Selection.objects.filter(planogram_id=Subquery(latest))
                .values_list("code", "product__name"))


def slot_names_of(machine_ids) -> dict[tuple[str, str], str]:
    """`{(machine id, code): product name}` of several machines' latest planograms, in one
    query (a page of forecasts of many machines)."""
    latest = (Planogram.objects.filter(machine_id=OuterRef("planogram__machine_id"))
              .order_by("-effective_from").values("pk")[:1])
    rows = (Selection.objects.filter(planogram__machine_id__in=list(machine_ids))
            .filter(planogram_id=Subquery(latest))
            .values_list("planogram__machine_id", "code", "product__name"))
    return {(str(machine_id), code): name for machine_id, code, name in rows}


def forecast_document(row: Forecast, *, name: str = "") -> ForecastDocument:
    """`row` with its bunker's ingredient loaded (`forecasts_for` does); `name` of a slot."""
    bunker = row.bunker if row.bunker_id else None
    return {
        "machineId": str(row.machine_id),
        "kind": "bunker" if bunker else "slot",
        "bunkerId": str(row.bunker_id) if row.bunker_id else None,
        "slotCode": row.slot_code,
        "name": bunker.ingredient.name if bunker else name,
        "unit": "g" if bunker else "pcs",
        "level": row.level,
        "ratePerHour": round(row.rate_per_hour, 3),
        "runsOutAt": iso8601(row.runs_out_at),
        "earliestAt": iso8601(row.earliest_at),
        "latestAt": iso8601(row.latest_at),
        "method": row.method,
        "samples": row.samples,
        "computedAt": iso8601(row.computed_at),
    }


def forecast_documents(rows: list[Forecast]) -> list[ForecastDocument]:
    """Documents of `rows` (from `forecasts_for`), slot names read in one query."""
    machines = {row.machine_id for row in rows if not row.bunker_id}
    names = slot_names_of(machines) if machines else {}
    return [forecast_document(row, name=names.get((str(row.machine_id), row.slot_code), ""))
            for row in rows]


def machine_forecast_rows(machine: Machine) -> list[Forecast]:
    """The machine's forecasts: bunkers by ingredient, then slots by code."""
    return list(Forecast.objects.filter(machine=machine)
                .select_related("bunker__ingredient")
                .order_by("slot_code", "bunker__ingredient__name"))


def with_runs_out_at(machines: QuerySet[Machine]) -> QuerySet[Machine]:
    """`machines` annotated with `runs_out_at`: the earliest run-out of their forecasts
    (None: nothing runs out), a correlated subquery in the list's own query (sortable)."""
    earliest = (Forecast.objects.filter(machine=OuterRef("pk")).order_by().values("machine")
                .annotate(first=Min("runs_out_at")).values("first"))
    return machines.annotate(runs_out_at=Subquery(earliest))


def runs_out_before(forecasts: QuerySet[Forecast], at: datetime | None) -> QuerySet[Forecast]:
    """Forecasts that run out (before `at`, if given), soonest first."""
    found = forecasts.filter(runs_out_at__isnull=False)
    if at is not None:
        found = found.filter(runs_out_at__lt=at)
    return found.order_by("runs_out_at", "machine_id", "slot_code")
