"""Reads of field operations, scoped to what a viewer may see."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from machines.selectors import managed_organization_ids_for
from operations.models import Route, Visit, VisitLine


def with_route_details(routes: QuerySet[Route]) -> QuerySet[Route]:
    """`routes` with what `operations.events.route_document` reads, in four queries."""
    lines = VisitLine.objects.select_related("ingredient", "product").order_by("slot_code",
                                                                                 "created_at")
    visits = (Visit.objects.select_related("machine").order_by("sequence")
              .prefetch_related(Prefetch("lines", queryset=lines)))
    return routes.select_related("operator").prefetch_related(Prefetch("visits",
                                                                       queryset=visits))


def routes_managed_by(user) -> QuerySet[Route]:
    """Routes of the organizations `user` manages (admins and managers)."""
    return Route.objects.filter(organization_id__in=managed_organization_ids_for(user))


def routes_of_operator(user) -> QuerySet[Route]:
    """The user's own routes, in every organization they still belong to."""
    return Route.objects.filter(operator=user,
                                organization__memberships__user=user).distinct()
