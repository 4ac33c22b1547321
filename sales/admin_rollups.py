"""What the changelists of the daily rollups share, at millions of rows (a year of a
300-machine fleet is 6.7 M DailySales rows): no query that reads every row of the table to
draw the page. Measured on that year, the list took 10 s (50 s with a search): a sort of
every row for the page, the count, a DISTINCT over the rows for the years of the date
hierarchy and another for the organizations of the filter, a search joining every row to
its machine and product."""

from __future__ import annotations

from collections import defaultdict
from functools import reduce
from operator import or_

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from machines import selectors
from machines.models import Organization


class OrganizationFilter(admin.RelatedFieldListFilter):
    """The staff member's organizations (every organization for a superuser), read from
    their memberships, not from the rows: a DISTINCT over the rollups to list a few names
    read them all."""

    def field_choices(self, field, request: HttpRequest, model_admin):
        organization_ids = selectors.admin_organization_ids(request.user)
        organizations = Organization.objects.order_by("name")
        if organization_ids is not None:
            organizations = organizations.filter(pk__in=organization_ids)
        return list(organizations.values_list("pk", "name"))


class RollupAdminMixin:
    """Newest days first in the order of the (organization, day) index, a date filter that
    needs no query (today, the last 7 days, this month, this year) instead of a date
    hierarchy, no count of the unfiltered rows, and a search that finds the machines and
    products first and then their rows through the foreign-key indexes."""

    #: The (organization, day) index read backwards: the page is its first rows, not a sort
    #: of them all (a superuser's organizations follow one another).
    ordering = ["-organization_id", "-day"]
    show_full_result_count = False
    date_hierarchy = None

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        """Each word must match one of `search_fields` (`<relation>__<field>`), as Django's
        search, but as `<relation>_id IN (matching ids)`: no join to every row. The ids are
        read first, so the planner sees them and takes the foreign keys' indexes (a relation
        nothing matched drops out of the condition)."""
        fields: dict[str, list[str]] = defaultdict(list)
        for path in self.search_fields:
            relation, field = path.split("__", 1)
            fields[relation].append(field)
        for word in search_term.split():
            matches = []
            for relation, names in fields.items():
                related = queryset.model._meta.get_field(relation).related_model
                found = list(related._default_manager.filter(
                    reduce(or_, (Q(**{f"{name}__icontains": word}) for name in names)))
                    .values_list("pk", flat=True))
                if found:
                    matches.append(Q(**{f"{relation}__in": found}))
            if not matches:
                return queryset.none(), False
            queryset = queryset.filter(reduce(or_, matches))
        return queryset, False
