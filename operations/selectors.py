"""Reads of field operations, scoped to what a viewer may see."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from machines.models import Membership
from machines.selectors import managed_organization_ids_for, organization_ids_for
from operations.models import OperatorProfile, Route, Visit, VisitLine
from vendhub.people import display_name


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


def routes_for(user) -> QuerySet[Route]:
    """What a person may read of routes: every route of the organizations they manage, and
    their own routes where they still belong (an operator); nothing for a viewer."""
    if not getattr(user, "is_authenticated", False):
        return Route.objects.none()
    return Route.objects.filter(
        Q(organization_id__in=managed_organization_ids_for(user))
        | Q(operator=user, organization_id__in=organization_ids_for(user)))


def route_operators_in(organization_ids) -> list[dict]:
    """Operators the planner plans for in these organizations (an active user holding the
    operator role there, with an active operator profile): `{id, name, organizationId}`,
    by username. One query."""
    operator_role = Membership.objects.operators().filter(
        organization_id=OuterRef("organization_id"), user_id=OuterRef("user_id"))
    profiles = (OperatorProfile.objects.filter(organization_id__in=organization_ids,
                                               active=True)
                .filter(Exists(operator_role)).select_related("user")
                .order_by("user__username", "organization_id"))
    return [{"id": profile.user_id, "name": display_name(profile.user),
             "organizationId": str(profile.organization_id)} for profile in profiles]
