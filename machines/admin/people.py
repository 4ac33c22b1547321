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
from machines.models import Membership, Organization, Role

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
        "time_zone",
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


def managed_organization_ids(staff) -> QuerySet | None:
    """The organizations whose people `staff` may change in the admin; None means all.

    Seeing an organization's objects takes any membership (`admin_organization_ids`);
    deciding who belongs to it, and with which role, takes a managing role, or a viewer of
    an organization could make themselves its manager."""
    if selectors.admin_organization_ids(staff) is None:
        return None
    return selectors.managed_organization_ids_for(staff)


def may_edit_user(staff, user) -> bool:
    """Whether `staff` may change `user` (password, names, activity, memberships) or delete it.

    A non-superuser may edit only people who belong to organizations they manage and to no
    other: setting the password of someone who also works for another organization would
    hand that organization's data to whoever manages any one of theirs. Other staff
    accounts (which may carry more permissions) and superusers are read-only too."""
    organization_ids = managed_organization_ids(staff)
    if organization_ids is None:
        return True
    if user.is_superuser or (user.is_staff and user.pk != staff.pk):
        return False
    memberships = Membership.objects.filter(user=user)
    return (
        memberships.filter(organization_id__in=organization_ids).exists()
        and not memberships.exclude(organization_id__in=organization_ids).exists()
    )


class ManagedOrganizationChoicesMixin(OrganizationScopedMixin):
    """A membership's organization is chosen among those the staff member manages."""

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        organization_ids = managed_organization_ids(request.user)
        if db_field.name == "organization" and organization_ids is not None:
            kwargs["queryset"] = Organization.objects.filter(pk__in=organization_ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Membership)
class MembershipAdmin(ManagedOrganizationChoicesMixin, OrganizationScopedAdmin):
    """Memberships of the staff member's organizations; only those of the organizations
    they manage may be changed or deleted."""

    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", ("organization", ScopedRelatedFilter)]
    search_fields = ["user__username", "user__first_name", "user__last_name", "organization__name"]
    list_select_related = ["user", "organization"]

    def _manages(self, request: HttpRequest, membership: Membership | None) -> bool:
        organization_ids = managed_organization_ids(request.user)
        return (
            membership is None
            or organization_ids is None
            or organization_ids.filter(organization_id=membership.organization_id).exists()
        )

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_change_permission(request, obj) and self._manages(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and self._manages(request, obj)


class MembershipInline(ManagedOrganizationChoicesMixin, admin.TabularInline):
    """A user's memberships in the staff member's organizations only (the others are not
    theirs to see), editable where the user is (`may_edit_user`)."""

    model = Membership
    extra = 0
    fields = ["organization", "role"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        organization_ids = selectors.admin_organization_ids(request.user)
        if organization_ids is None:
            return queryset
        return queryset.filter(organization_id__in=organization_ids)

    def _may_edit(self, request: HttpRequest, user) -> bool:
        return user is None or may_edit_user(request.user, user)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_add_permission(request, obj) and self._may_edit(request, obj)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_change_permission(request, obj) and self._may_edit(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and self._may_edit(request, obj)


class RoleInMyOrganizationsFilter(admin.SimpleListFilter):
    """Users by their role in the staff member's organizations; a role held elsewhere is
    neither matched nor revealed."""

    title = _("role")
    parameter_name = "role"

    def lookups(self, request, model_admin):
        return Role.choices

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        if self.value() is None:
            return queryset
        memberships = Membership.objects.filter(role=self.value())
        organization_ids = selectors.admin_organization_ids(request.user)
        if organization_ids is not None:
            memberships = memberships.filter(organization_id__in=organization_ids)
        return queryset.filter(pk__in=memberships.values("user_id"))


if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class ScopedUserAdmin(UserAdmin):
    """Users with their memberships. Staff who are not superusers see only members of their
    organizations (never superusers, and only the memberships in their organizations), may
    change or delete only the users `may_edit_user` allows, and cannot grant privileges."""

    inlines = [MembershipInline]
    list_filter = [*UserAdmin.list_filter, RoleInMyOrganizationsFilter]

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

    # The password form (<id>/password/) asks has_change_permission too: refused with a 403.
    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or may_edit_user(request.user, obj))

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or may_edit_user(request.user, obj))
