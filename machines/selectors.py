"""Reads of the fleet, and the one place that decides which organizations a user may see.

Every REST endpoint scopes by membership (superusers included: an API client sees the
organizations it belongs to, nothing more). The admin is the exception: a superuser sees
everything there, see `admin_organization_ids`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    FloatField,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.db.models.lookups import LessThan

from machines.models import (
    MANAGING_ROLES,
    Bunker,
    Ingredient,
    Machine,
    Membership,
    Organization,
    Role,
    Task,
)

User = get_user_model()

AnyUser = AbstractBaseUser | AnonymousUser


def _is_member(user: AnyUser | None) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def organization_ids_for(user: AnyUser | None) -> QuerySet:
    """The ids of the organizations `user` belongs to, as a lazy subquery (no query yet)."""
    if not _is_member(user):
        return Membership.objects.none().values("organization_id")
    return Membership.objects.filter(user=user).values("organization_id")


def managed_organization_ids_for(user: AnyUser | None) -> QuerySet:
    """The ids of the organizations where `user` is an admin or a manager (lazy subquery)."""
    if not _is_member(user):
        return Membership.objects.none().values("organization_id")
    return Membership.objects.filter(user=user, role__in=MANAGING_ROLES).values("organization_id")


def is_manager_of(user: AnyUser | None, organization_id: UUID | str) -> bool:
    """Whether `user` holds a managing role (admin, manager) in that organization."""
    if not _is_member(user):
        return False
    return Membership.objects.filter(
        user=user, organization_id=organization_id, role__in=MANAGING_ROLES
    ).exists()


def is_operator_anywhere(user: AnyUser | None) -> bool:
    """Whether `user` holds the operator role in at least one organization."""
    return _is_member(user) and Membership.objects.filter(user=user, role=Role.OPERATOR).exists()


def active_managers_of(organization_id: UUID | str) -> list:
    """Active admins and managers of the organization: who hears how its tasks end."""
    return list(User.objects.filter(
        is_active=True, memberships__organization_id=organization_id,
        memberships__role__in=MANAGING_ROLES,
    ).distinct().order_by("pk"))


def is_manager_anywhere(user: AnyUser | None) -> bool:
    """Whether `user` manages at least one organization."""
    return _is_member(user) and managed_organization_ids_for(user).exists()


def time_zone_for(user: AnyUser | None) -> str:
    """The time zone `user` reads times in: their organization's (the one they joined first,
    when they belong to several); the server's TIME_ZONE for a user of no organization."""
    if not _is_member(user):
        return settings.TIME_ZONE
    zone = (Membership.objects.filter(user=user).order_by("created_at")
            .values_list("organization__time_zone", flat=True).first())
    return zone or settings.TIME_ZONE


def organizations_for(user: AnyUser | None) -> QuerySet[Organization]:
    return Organization.objects.filter(id__in=organization_ids_for(user))


def machines_for(user: AnyUser | None) -> QuerySet[Machine]:
    """Machines of the user's organizations, with what the list and detail views show."""
    return (
        Machine.objects.filter(organization_id__in=organization_ids_for(user))
        .select_related("organization", "responsible_operator", "status_set_by")
        .prefetch_related(bunkers_prefetch())
    )


def machine_list_for(user: AnyUser | None) -> QuerySet[Machine]:
    """`machines_for` with what the fleet list sorts by: `lowest_bunker_percent` (None
    without bunkers), `open_errors` and `low_bunkers` (how many bunkers are under their
    threshold). Subqueries, not joins, so that the counts do not multiply each other."""
    bunkers = Bunker.objects.filter(machine=OuterRef("pk")).order_by().values("machine")
    percent = Case(
        When(capacity_grams__gt=0,
             then=F("current_level_grams") * 100.0 / F("capacity_grams")),
        default=Value(0.0), output_field=FloatField(),
    )
    from telemetry.models import MachineError  # telemetry depends on machines, not back

    open_errors = (MachineError.objects.filter(machine=OuterRef("pk"), resolved_at__isnull=True)
                   .order_by().values("machine").annotate(n=Count("id")).values("n"))
    low = bunkers.filter(low_bunker_condition()).annotate(n=Count("id")).values("n")
    return machines_for(user).annotate(
        lowest_bunker_percent=Subquery(bunkers.annotate(p=Min(percent)).values("p")),
        open_errors=Coalesce(Subquery(open_errors), 0),
        low_bunkers=Coalesce(Subquery(low), 0),
    )


def has_low_bunker() -> Exists:
    """An `Exists` for Machine querysets: at least one bunker under its threshold."""
    return Exists(Bunker.objects.filter(Q(machine=OuterRef("pk")) & low_bunker_condition()))


def bunkers_prefetch() -> Prefetch:
    """Prefetch of a machine's bunkers with their ingredient (for `.prefetch_related`)."""
    return Prefetch("bunkers", queryset=Bunker.objects.select_related("ingredient"))


class TooManyMapPoints(Exception):
    """More located machines than the map's limit (`limit`)."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


def machine_map_points(machines: QuerySet[Machine], *, limit: int) -> list[dict[str, Any]]:
    """Every located machine of `machines` as the live map's marker
    `{id, name, lat, lng, status}`, ordered by name.

    One query, not paginated: the map shows the whole fleet at once. Raises
    `TooManyMapPoints` beyond `limit` markers (it reads at most `limit + 1` rows).
    """
    rows = list(
        machines.exclude(latitude__isnull=True)
        .exclude(longitude__isnull=True)
        .prefetch_related(None)
        .order_by("name", "id")
        .values("id", "name", "latitude", "longitude", "status")[: limit + 1]
    )
    if len(rows) > limit:
        raise TooManyMapPoints(limit)
    return [
        {
            "id": str(row["id"]),
            "name": row["name"],
            "lat": float(row["latitude"]),
            "lng": float(row["longitude"]),
            "status": row["status"],
        }
        for row in rows
    ]


def machine_map_points_for(user: AnyUser | None, *, limit: int = 50_000) -> list[dict[str, Any]]:
    """`machine_map_points` of every machine of the user's organizations."""
    return machine_map_points(
        Machine.objects.filter(organization_id__in=organization_ids_for(user)), limit=limit)


def machine_statuses_in(organization_ids: Iterable[UUID | str]) -> list[dict[str, Any]]:
    """Every machine of these organizations as the live map's snapshot entry
    `{machineId, name, lat, lng, status, lastSeenAt}` (lat/lng null when not located).

    One query. The caller has established that the viewer belongs to the organizations.
    """
    rows = (
        Machine.objects.filter(organization_id__in=list(organization_ids))
        .order_by("name", "id")
        .values_list("id", "name", "latitude", "longitude", "status", "last_seen_at")
    )
    return [
        {
            "machineId": str(pk),
            "name": name,
            "lat": float(lat) if lat is not None else None,
            "lng": float(lng) if lng is not None else None,
            "status": status,
            "lastSeenAt": _iso8601(last_seen),
        }
        for pk, name, lat, lng, status, last_seen in rows
    ]


def _iso8601(value: datetime | None) -> str | None:
    """UTC with a `Z` suffix, like the realtime events."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def ingredients_for(user: AnyUser | None) -> QuerySet[Ingredient]:
    return Ingredient.objects.filter(organization_id__in=organization_ids_for(user)).annotate(
        bunker_count=Count("bunkers")
    )


def tasks_for(user: AnyUser | None) -> QuerySet[Task]:
    """Tasks of the user's organizations (all of them: filter by assignee for "my tasks")."""
    return Task.objects.filter(organization_id__in=organization_ids_for(user)).select_related(
        "machine", "assignee", "bunker__ingredient"
    )


def _operators(memberships: QuerySet[Membership]) -> QuerySet:
    return User.objects.filter(pk__in=memberships.operators().values("user_id")).order_by(
        "username"
    )


def operators_in(organization: Organization | UUID | str) -> QuerySet:
    """Active users holding the operator role in `organization` (an instance or an id)."""
    organization_id = getattr(organization, "pk", organization)
    return _operators(Membership.objects.filter(organization_id=organization_id))


def operators_managed_by(user: AnyUser | None) -> QuerySet:
    """Operators of the organizations `user` manages: the choices of the assignee picker."""
    return _operators(
        Membership.objects.filter(organization_id__in=managed_organization_ids_for(user))
    )


def is_operator_of(user: AnyUser | int | None, organization_id: UUID | str) -> bool:
    """Whether `user` (a user, or a user's id) is an active operator of the organization:
    who may be given its tasks."""
    user_id = getattr(user, "pk", user)
    return user_id is not None and operators_in(organization_id).filter(pk=user_id).exists()


def low_bunker_condition(prefix: str = "") -> Q:
    """A `Q`: the bunker's level is under its threshold (the rule of `Bunker.is_low_at`).

    `prefix` is the path to the bunker, e.g. "bunkers__" from Machine.
    """
    return Q(
        LessThan(
            F(f"{prefix}current_level_grams") * 100,
            F(f"{prefix}capacity_grams") * F(f"{prefix}low_level_threshold_percent"),
        )
    )


# The admin back office ------------------------------------------------------------------------


def admin_organization_ids(user: AnyUser | None) -> QuerySet | None:
    """Organizations whose objects `user` may see in the admin; None means all (superuser)."""
    if user is not None and user.is_active and user.is_superuser:
        return None
    return organization_ids_for(user)


def members_of(organization_ids: QuerySet) -> QuerySet:
    """Users with a membership in any of `organization_ids` (a subquery)."""
    return User.objects.filter(
        pk__in=Membership.objects.filter(organization_id__in=organization_ids).values("user_id")
    )
