"""The back office for the fleet.

Superusers see everything. Other staff see only the objects of their own organizations:
every admin here derives from `OrganizationScopedAdmin`, which filters the changelist,
the change pages (another organization's object is "not found") and the choices of every
foreign key (`machines.selectors.admin_organization_ids` decides).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import Count, Model, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from machines import selectors, services
from machines.models import (
    Bunker,
    Ingredient,
    Machine,
    Membership,
    Organization,
    Task,
    TaskStatus,
)

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
            if choices is not None:
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


def fill_display(bunker: Bunker) -> str:
    if bunker._state.adding or bunker.capacity_grams is None:
        return "-"  # a blank inline row: nothing to compute yet
    percentage = f"{bunker.percentage:.1f}%"
    if bunker.low_level_alert:
        return format_html('<strong style="color:#dc2626">{} ⚠ {}</strong>', percentage, _("low"))
    return percentage


# Organizations and people ---------------------------------------------------------------------


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


# Machines, ingredients, bunkers -------------------------------------------------------------


class BunkerInline(OrganizationScopedMixin, admin.TabularInline):
    model = Bunker
    extra = 0
    fields = [
        "ingredient",
        "capacity_grams",
        "current_level_grams",
        "low_level_threshold_percent",
        "fill",
    ]
    readonly_fields = ["fill"]

    @admin.display(description=_("fill"))
    def fill(self, bunker: Bunker) -> str:
        return fill_display(bunker)


@admin.register(Machine)
class MachineAdmin(OrganizationScopedAdmin):
    list_display = [
        "name",
        "serial_number",
        "organization",
        "status",
        "last_seen_at",
        "responsible_operator",
        "low_bunkers",
    ]
    list_filter = ["status", ("organization", ScopedRelatedFilter), "model"]
    search_fields = ["name", "serial_number", "address"]
    list_select_related = ["organization", "responsible_operator"]
    readonly_fields = ["last_seen_at", "updated_by", "created_at", "updated_at"]
    inlines = [BunkerInline]
    actions = ["put_into_maintenance"]
    fieldsets = [
        (None, {"fields": ["organization", "name", "serial_number", "model", "status"]}),
        (_("Location"), {"fields": ["address", "latitude", "longitude"]}),
        (
            _("Operation"),
            {"fields": ["responsible_operator", "telemetry_interval_seconds", "last_seen_at"]},
        ),
        (_("History"), {"fields": ["updated_by", "created_at", "updated_at"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(
                low_bunker_total=Count(
                    "bunkers", filter=selectors.low_bunker_condition("bunkers__")
                )
            )
        )

    @admin.display(description=_("low bunkers"), ordering="low_bunker_total")
    def low_bunkers(self, machine: Machine) -> int:
        return machine.low_bunker_total

    def save_model(self, request: HttpRequest, obj: Machine, form, change: bool) -> None:
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description=_("Put selected machines into maintenance"), permissions=["change"])
    def put_into_maintenance(self, request: HttpRequest, queryset: QuerySet) -> None:
        changed = services.put_machines_into_maintenance(machines=queryset, actor=request.user)
        self.message_user(
            request,
            ngettext(
                "%(count)d machine put into maintenance.",
                "%(count)d machines put into maintenance.",
                changed,
            )
            % {"count": changed},
            messages.SUCCESS,
        )


@admin.register(Ingredient)
class IngredientAdmin(OrganizationScopedAdmin):
    list_display = ["name", "organization", "unit", "bunker_count"]
    list_filter = [("organization", ScopedRelatedFilter), "unit"]
    search_fields = ["name"]
    list_select_related = ["organization"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(bunker_total=Count("bunkers"))

    @admin.display(description=_("bunkers"), ordering="bunker_total")
    def bunker_count(self, ingredient: Ingredient) -> int:
        return ingredient.bunker_total


class LowLevelFilter(admin.SimpleListFilter):
    title = _("low level")
    parameter_name = "low"

    def lookups(self, request, model_admin):
        return [("yes", _("Low")), ("no", _("Not low"))]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(selectors.low_bunker_condition())
        if self.value() == "no":
            return queryset.exclude(selectors.low_bunker_condition())
        return queryset


@admin.register(Bunker)
class BunkerAdmin(OrganizationScopedAdmin):
    organization_lookup = "machine__organization"
    list_display = [
        "__str__",
        "ingredient",
        "current_level_grams",
        "capacity_grams",
        "fill",
        "is_low",
    ]
    list_filter = [
        LowLevelFilter,
        ("machine__organization", ScopedRelatedFilter),
        ("ingredient", ScopedRelatedFilter),
    ]
    search_fields = ["machine__name", "machine__serial_number", "ingredient__name"]
    list_select_related = ["machine", "ingredient"]
    readonly_fields = ["fill"]

    @admin.display(description=_("fill"))
    def fill(self, bunker: Bunker) -> str:
        return fill_display(bunker)

    @admin.display(description=_("low"), boolean=True)
    def is_low(self, bunker: Bunker) -> bool:
        return bunker.low_level_alert


# Tasks --------------------------------------------------------------------------------------


class TaskAdminForm(forms.ModelForm):
    class Meta:
        model = Task
        # The organization is the machine's (set in TaskAdmin.save_model), never typed in.
        fields = [
            "machine",
            "bunker",
            "kind",
            "title",
            "notes",
            "assignee",
            "status",
            "priority",
            "due_at",
        ]

    def clean(self):
        cleaned = super().clean()
        machine, bunker = cleaned.get("machine"), cleaned.get("bunker")
        if machine is not None and bunker is not None and bunker.machine_id != machine.pk:
            self.add_error("bunker", _("This bunker belongs to another machine."))
        assignee = cleaned.get("assignee")
        if (machine is not None and assignee is not None
                and not selectors.is_operator_of(assignee, machine.organization_id)):
            # The rule of the REST API (machines.services): tasks go to operators.
            self.add_error("assignee", _("Choose an operator of the machine's organization."))
        return cleaned


@admin.register(Task)
class TaskAdmin(OrganizationScopedAdmin):
    form = TaskAdminForm
    list_display = [
        "title",
        "machine",
        "assignee",
        "kind",
        "status",
        "priority",
        "due_at",
        "completed_at",
    ]
    list_filter = [
        "status",
        "kind",
        "priority",
        ("organization", ScopedRelatedFilter),
        ("assignee", ScopedRelatedFilter),
    ]
    search_fields = ["title", "notes", "machine__name", "machine__serial_number"]
    list_select_related = ["machine", "assignee"]
    date_hierarchy = "created_at"
    readonly_fields = ["completed_at", "created_by", "created_at", "updated_at"]
    actions = ["assign_to_responsible_operator", "mark_done", "mark_cancelled"]

    def save_model(self, request: HttpRequest, obj: Task, form, change: bool) -> None:
        obj.organization_id = obj.machine.organization_id
        if not change:
            obj.created_by = request.user
        obj.completed_at = services.completed_at_for(
            status=obj.status, completed_at=obj.completed_at
        )
        super().save_model(request, obj, form, change)

    def _report(self, request: HttpRequest, changed: int, what: str) -> None:
        self.message_user(
            request,
            ngettext("%(count)d task %(what)s.", "%(count)d tasks %(what)s.", changed)
            % {"count": changed, "what": what},
            messages.SUCCESS,
        )

    @admin.action(
        description=_("Assign to the machine's responsible operator"), permissions=["change"]
    )
    def assign_to_responsible_operator(self, request: HttpRequest, queryset: QuerySet) -> None:
        changed = services.assign_tasks_to_responsible_operator(
            tasks=queryset.select_related("machine")
        )
        self._report(request, changed, _("assigned"))

    @admin.action(description=_("Close selected tasks as done"), permissions=["change"])
    def mark_done(self, request: HttpRequest, queryset: QuerySet) -> None:
        changed = services.set_tasks_status(tasks=queryset, status=TaskStatus.DONE)
        self._report(request, changed, _("done"))

    @admin.action(description=_("Cancel selected tasks"), permissions=["change"])
    def mark_cancelled(self, request: HttpRequest, queryset: QuerySet) -> None:
        changed = services.set_tasks_status(tasks=queryset, status=TaskStatus.CANCELLED)
        self._report(request, changed, _("cancelled"))
