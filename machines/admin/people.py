"""Organizations, memberships and users."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from machines import selectors
from machines.admin.scoping import (
    OrganizationScopedAdmin,
    OrganizationScopedMixin,
    ScopedRelatedFilter,
)
from machines.models import Membership, Organization

User = get_user_model()


@admin.register(Organization)
class OrganizationAdmin(OrganizationScopedAdmin):
    organization_lookup = "pk"
    list_display = [
        "name",
        "slug",
        "machine_count",
        "member_count",
        "temperature_alert_celsius",
        "humidity_alert_percent",
    ]
    list_filter = ["created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(
                machine_total=Count("machines", distinct=True),
                member_total=Count("memberships", distinct=True),
            )
        )

    @admin.display(description=_("machines"), ordering="machine_total")
    def machine_count(self, organization: Organization) -> int:
        return organization.machine_total

    @admin.display(description=_("members"), ordering="member_total")
    def member_count(self, organization: Organization) -> int:
        return organization.member_total


@admin.register(Membership)
class MembershipAdmin(OrganizationScopedAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", ("organization", ScopedRelatedFilter)]
    search_fields = ["user__username", "user__first_name", "user__last_name", "organization__name"]
    list_select_related = ["user", "organization"]


class MembershipInline(OrganizationScopedMixin, admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["organization", "role"]


if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class ScopedUserAdmin(UserAdmin):
    """Users with their memberships. Staff who are not superusers see (and may edit, given
    the permission) only members of their organizations, never superusers, and cannot
    grant privileges."""

    inlines = [MembershipInline]
    list_filter = [*UserAdmin.list_filter, "memberships__role"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        organization_ids = selectors.admin_organization_ids(request.user)
        if organization_ids is None:
            return queryset
        return queryset.filter(pk__in=selectors.members_of(organization_ids)).exclude(
            is_superuser=True
        )

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly += ["is_staff", "is_superuser", "groups", "user_permissions"]
        return readonly
