"""What every admin of the fleet shares: the organization scoping of querysets, foreign-key
choices and list filters (`machines.selectors.admin_organization_ids` decides)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from machines import selectors
from machines.models import Bunker, Ingredient, Machine, Membership, Organization, Task

User = get_user_model()


def scoped_choices(model: type[Model], organization_ids: QuerySet) -> QuerySet | None:
    """The objects of `model` belonging to `organization_ids`; None for unrelated models."""
    if model is Organization:
        return Organization.objects.filter(pk__in=organization_ids)
    if model in (Machine, Ingredient, Task, Membership):
        return model._default_manager.filter(organization_id__in=organization_ids)
    if model is Bunker:
        return Bunker.objects.filter(machine__organization_id__in=organization_ids)
    if model is User:
        return selectors.members_of(organization_ids)
    return None


class OrganizationScopedMixin:
    """Foreign-key choices limited to the staff member's organizations (admins and inlines)."""

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        organization_ids = selectors.admin_organization_ids(request.user)
        if organization_ids is not None:
            choices = scoped_choices(db_field.related_model, organization_ids)
            # A subclass may have narrowed the choices further already; keep its queryset.
            if choices is not None and "queryset" not in kwargs:
                kwargs["queryset"] = choices
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class OrganizationScopedAdmin(OrganizationScopedMixin, admin.ModelAdmin):
    """A ModelAdmin showing non-superusers only their organizations' objects.

    `organization_lookup` is the path from the model to its Organization.
    """

    organization_lookup = "organization"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        organization_ids = selectors.admin_organization_ids(request.user)
        if organization_ids is None:
            return queryset
        return queryset.filter(**{f"{self.organization_lookup}__in": organization_ids})


class ScopedRelatedFilter(admin.RelatedOnlyFieldListFilter):
    """Offers only the related objects present in the (scoped) changelist, so the sidebar
    never lists another organization's names."""
