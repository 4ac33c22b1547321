"""Query-string filters of the fleet endpoints (django-filter)."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import F, QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter

from machines import selectors
from machines.models import (
    Ingredient,
    Machine,
    MachineStatus,
    Membership,
    Priority,
    Role,
    Task,
    TaskKind,
    TaskStatus,
)

#: The largest integer of PostgreSQL's bigint: no id is larger, and a number beyond 64 bits
#: makes the query fail instead of matching nothing.
MAX_ID = 2**63 - 1


def parse_id(value: str, name: str, message: str = "Expected a user id.") -> int:
    """An id from a query value, or a ValidationError naming the parameter. ASCII digits
    only: `str.isdigit()` also accepts "²", which `int()` refuses."""
    value = value.strip()
    if not (value.isascii() and value.isdigit() and len(value) <= 19) or int(value) > MAX_ID:
        raise ValidationError({name: [message]})
    return int(value)


class _StrictBooleanField(forms.NullBooleanField):
    def to_python(self, value) -> bool | None:
        if value in (None, ""):
            return None
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise forms.ValidationError('Expected "true" or "false".', code="invalid")


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanFilter(filters.BooleanFilter):
    """`true`/`false` (or 1/0, any case); anything else is a 400. django-filter's own reads
    a value it does not know as "not given" and answers with the unfiltered list."""

    field_class = _StrictBooleanField

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("widget", forms.TextInput)  # the raw value, for the field to judge
        super().__init__(*args, **kwargs)


@extend_schema_field(OpenApiTypes.INT)
class _UserIdFilter(filters.CharFilter):
    """A user id, read by `parse_id` in the filter method (documented as an integer)."""


class MachineFilter(filters.FilterSet):
    """`?status=online&status=error&organization=<uuid>&lowStock=true`; search is `?search=`
    (name, serial, address). `?withLocation=true` switches the list to the map shape (see
    the view)."""

    status = filters.MultipleChoiceFilter(choices=MachineStatus.choices)
    organization = filters.UUIDFilter(field_name="organization_id")
    responsibleOperator = _UserIdFilter(method="filter_responsible_operator",
                                        help_text="A user id.")
    lowStock = StrictBooleanFilter(method="filter_low_stock",
                                   help_text="true: machines with a bunker under its threshold.")

    class Meta:
        model = Machine
        fields = ["status", "organization", "responsibleOperator", "lowStock"]

    def filter_low_stock(self, queryset: QuerySet[Machine], name: str,
                         value: bool | None) -> QuerySet[Machine]:
        if value is None:
            return queryset
        low = selectors.has_low_bunker()
        return queryset.filter(low if value else ~low)

    def filter_responsible_operator(self, queryset: QuerySet[Machine], name: str,
                                    value: str) -> QuerySet[Machine]:
        return queryset.filter(responsible_operator_id=parse_id(value, name))


class IngredientFilter(filters.FilterSet):
    organization = filters.UUIDFilter(field_name="organization_id")

    class Meta:
        model = Ingredient
        fields = ["organization"]


class TaskFilter(filters.FilterSet):
    """`?assignee=me` (or a user id), `?status=todo&status=in_progress`, `?machine=<uuid>`,
    `?kind=refill`, `?priority=high`, `?open=true`, `?completedSince=`/`?completedBefore=`."""

    assignee = filters.CharFilter(
        method="filter_assignee", help_text='A user id, "me", or "none" (unassigned).'
    )
    status = filters.MultipleChoiceFilter(choices=TaskStatus.choices)
    kind = filters.MultipleChoiceFilter(choices=TaskKind.choices)
    priority = filters.MultipleChoiceFilter(choices=Priority.choices)
    machine = filters.UUIDFilter(field_name="machine_id")
    organization = filters.UUIDFilter(field_name="organization_id")
    open = StrictBooleanFilter(method="filter_open", help_text="Only to-do and in-progress.")
    # The board's Done column: today's work first, then older pages ("load more").
    completedSince = filters.IsoDateTimeFilter(
        field_name="completed_at", lookup_expr="gte",
        help_text="Completed at or after this ISO 8601 time.")
    completedBefore = filters.IsoDateTimeFilter(
        field_name="completed_at", lookup_expr="lt",
        help_text="Completed before this ISO 8601 time (with ordering=-completed_at: the "
                  "next older page).")

    class Meta:
        model = Task
        fields = ["assignee", "status", "kind", "priority", "machine", "organization", "open",
                  "completedSince", "completedBefore"]

    def filter_assignee(self, queryset: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        if value == "me":
            return queryset.filter(assignee_id=getattr(self.request.user, "pk", None))
        if value in ("none", "null"):
            return queryset.filter(assignee__isnull=True)
        return queryset.filter(
            assignee_id=parse_id(value, "assignee", 'Expected a user id, "me" or "none".'))

    def filter_open(
        self, queryset: QuerySet[Task], name: str, value: bool | None
    ) -> QuerySet[Task]:
        if value is None:
            return queryset
        open_statuses = [TaskStatus.TODO, TaskStatus.IN_PROGRESS]
        if value:
            return queryset.filter(status__in=open_statuses)
        return queryset.exclude(status__in=open_statuses)


class OperatorFilter(filters.FilterSet):
    """`?organization=<uuid>`: operators of that one (managed) organization."""

    organization = filters.UUIDFilter(method="filter_organization")

    class Meta:
        model = get_user_model()
        fields = ["organization"]

    def filter_organization(self, queryset: QuerySet, name: str, value) -> QuerySet:
        if value is None:
            return queryset
        memberships = Membership.objects.filter(
            organization_id=value,
            organization_id__in=selectors.managed_organization_ids_for(self.request.user),
            role=Role.OPERATOR,
        )
        return queryset.filter(pk__in=memberships.values("user_id"))


class StrictOrderingFilter(OrderingFilter):
    """`?ordering=-open_errors,name`: like DRF's, but a field it does not know is a 400
    naming it (DRF drops it silently, and the client believes its list is sorted). Each view
    lists its fields in `ordering_fields`; `ordering_aliases` maps other spellings (the
    camelCase of the JSON keys) to them. Empty values sort last both ways, and the primary
    key breaks ties so that pages do not overlap."""

    def get_ordering(self, request, queryset, view) -> list[str]:
        params = request.query_params.get(self.ordering_param)
        if not params:
            return self.get_default_ordering(view)
        allowed = set(view.ordering_fields)
        aliases = getattr(view, "ordering_aliases", {})
        ordering = []
        for term in (part.strip() for part in params.split(",")):
            descending, name = term.startswith("-"), term.lstrip("-")
            name = aliases.get(name, name)
            if name not in allowed:
                choices = ", ".join(sorted(allowed | set(aliases)))
                raise ValidationError({self.ordering_param: [
                    f"Unknown field {term!r}; order by one of: {choices} (prefix - to reverse)."
                ]})
            ordering.append(f"-{name}" if descending else name)
        return ordering

    def filter_queryset(self, request, queryset, view):
        ordering = self.get_ordering(request, queryset, view)
        if not ordering:
            return queryset
        expressions = [
            F(term[1:]).desc(nulls_last=True) if term.startswith("-")
            else F(term).asc(nulls_last=True)
            for term in ordering
        ]
        return queryset.order_by(*expressions, "pk")
