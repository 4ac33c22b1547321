"""Routes built row by row for the visit tests (no planner): a route of an operator with one
visit per machine, a line per bunker planned to fill it to capacity."""

from __future__ import annotations

import uuid
from datetime import date

from django.utils import timezone

from operations.models import Route, Visit, VisitLine
from sales.selectors import sales_day


def today_of(organization) -> date:
    return sales_day(timezone.now(), organization.time_zone)


def make_route(organization, operator, machines, *, day: date | None = None) -> Route:
    route = Route.objects.create(organization=organization, operator=operator,
                                 date=day or today_of(organization))
    for sequence, machine in enumerate(machines, start=1):
        visit = Visit.objects.create(route=route, machine=machine, sequence=sequence,
                                     reasons=["runs_out"])
        for bunker in machine.bunkers.select_related("ingredient").order_by("ingredient__name"):
            VisitLine.objects.create(
                visit=visit, bunker=bunker, ingredient=bunker.ingredient,
                planned_quantity=bunker.capacity_grams - bunker.current_level_grams, packs=1)
    return route


def action(kind: str, payload: dict | None = None, client_id: uuid.UUID | None = None) -> dict:
    """The body of POST /api/v1/visits/{id}/actions/."""
    return {"clientId": str(client_id or uuid.uuid4()), "kind": kind, "payload": payload or {}}


def actions_url(visit) -> str:
    return f"/api/v1/visits/{visit.pk}/actions/"
