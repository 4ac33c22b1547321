"""Machines, their bunkers and the organizations' ingredients."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from machines import selectors, services
from machines.admin.scoping import (
    OrganizationScopedAdmin,
    OrganizationScopedMixin,
    ScopedRelatedFilter,
)
from machines.models import Bunker, Ingredient, Machine


def fill_display(bunker: Bunker) -> str:
    if bunker._state.adding or bunker.capacity_grams is None:
        return "-"  # a blank inline row: nothing to compute yet
    percentage = f"{bunker.percentage:.1f}%"
    if bunker.low_level_alert:
        return format_html('<strong style="color:#dc2626">{} ⚠ {}</strong>', percentage, _("low"))
    return percentage


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
    readonly_fields = [
        "status_set_by", "status_set_at", "last_seen_at", "updated_by", "created_at", "updated_at",
        "planograms",
    ]
    inlines = [BunkerInline]
    actions = ["put_into_maintenance"]
    fieldsets = [
        (None, {"fields": ["organization", "name", "serial_number", "model", "status",
                           "status_set_by", "status_set_at"]}),
        (_("Location"), {"fields": ["address", "latitude", "longitude"]}),
        (
            _("Operation"),
            {"fields": ["responsible_operator", "telemetry_interval_seconds", "last_seen_at",
                        "planograms"]},
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

    @admin.display(description=_("planograms"))
    def planograms(self, machine: Machine) -> str:
        """A link to the machine's planogram versions (the sales app edits them)."""
        if machine._state.adding:
            return "-"
        url = reverse("admin:sales_planogram_changelist")
        return format_html('<a href="{}?machine__id__exact={}">{}</a>', url, machine.pk,
                           _("Planogram versions"))

    @admin.display(description=_("low bunkers"), ordering="low_bunker_total")
    def low_bunkers(self, machine: Machine) -> int:
        return machine.low_bunker_total

    def save_model(self, request: HttpRequest, obj: Machine, form, change: bool) -> None:
        obj.updated_by = request.user
        if "status" in form.changed_data:
            # A status chosen here is a person's: maintenance holds, set by this staff user,
            # until someone ends it; any other choice hands it back to the readings.
            chosen, obj.status = obj.status, form.initial.get("status")
            services.mark_status_change(machine=obj, status=chosen, actor=request.user)
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
