"""Back office for field operations: depots, operators' profiles, pack sizes and planning
settings are edited here; routes, visits, forecasts and slot stock are written by the
planner and the operators' phones, so they are shown read-only. Every admin is scoped to the
staff member's organizations like the fleet's, choices included (a depot, an operator, a
machine or a product of another organization is never offered)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from machines import selectors
from machines.admin import OrganizationScopedAdmin, ScopedRelatedFilter
from operations.models import (
    Depot,
    Forecast,
    OperatorProfile,
    PackSize,
    PlanningSettings,
    Route,
    SlotStock,
    Visit,
    VisitAction,
    VisitLine,
)
from sales.admin import ReadOnlyAdmin, SalesScopedMixin


class OperationsScopedMixin(SalesScopedMixin):
    """Also limits depot choices to the staff member's organizations."""

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        organization_ids = selectors.admin_organization_ids(request.user)
        if (organization_ids is not None and db_field.related_model is Depot
                and "queryset" not in kwargs):
            kwargs["queryset"] = Depot.objects.filter(organization_id__in=organization_ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class OperationsAdmin(OperationsScopedMixin, OrganizationScopedAdmin):
    pass


class ReadOnlyOperationsAdmin(OperationsScopedMixin, ReadOnlyAdmin):
    pass


@admin.register(PlanningSettings)
class PlanningSettingsAdmin(OperationsAdmin):
    list_display = ["organization", "horizon_hours", "service_minutes", "road_factor",
                    "average_speed_kmh", "cleaning_interval_days"]
    list_filter = [("organization", ScopedRelatedFilter)]
    search_fields = ["organization__name"]
    list_select_related = ["organization"]


@admin.register(Depot)
class DepotAdmin(OperationsAdmin):
    list_display = ["name", "organization", "address", "opens_at", "closes_at"]
    list_filter = [("organization", ScopedRelatedFilter)]
    search_fields = ["name", "address"]
    list_select_related = ["organization"]


class OperatorProfileForm(forms.ModelForm):
    class Meta:
        model = OperatorProfile
        fields = ["organization", "user", "vehicle_capacity_kg", "shift_start", "shift_end",
                  "start_depot", "active"]

    def clean(self) -> dict:
        cleaned = super().clean()
        organization, user = cleaned.get("organization"), cleaned.get("user")
        depot, start, end = (cleaned.get("start_depot"), cleaned.get("shift_start"),
                             cleaned.get("shift_end"))
        if organization is not None and user is not None and not selectors.is_operator_of(
                user, organization.pk):
            self.add_error("user", _("Choose an operator of this organization."))
        if organization is not None and depot is not None and \
                depot.organization_id != organization.pk:
            self.add_error("start_depot", _("Choose a depot of this organization."))
        if start is not None and end is not None and end <= start:
            self.add_error("shift_end", _("The shift must end after it starts."))
        return cleaned


@admin.register(OperatorProfile)
class OperatorProfileAdmin(OperationsAdmin):
    form = OperatorProfileForm
    list_display = ["user", "organization", "vehicle_capacity_kg", "shift_start", "shift_end",
                    "start_depot", "active"]
    list_filter = ["active", ("organization", ScopedRelatedFilter)]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    list_select_related = ["user", "organization", "start_depot"]


class PackSizeForm(forms.ModelForm):
    class Meta:
        model = PackSize
        fields = ["organization", "ingredient", "product", "quantity", "weight_grams"]

    def clean(self) -> dict:
        cleaned = super().clean()
        organization = cleaned.get("organization")
        ingredient, product = cleaned.get("ingredient"), cleaned.get("product")
        if (ingredient is None) == (product is None):
            self.add_error("ingredient", _("Choose an ingredient or a product, not both."))
        for name, item in (("ingredient", ingredient), ("product", product)):
            if organization is not None and item is not None and \
                    item.organization_id != organization.pk:
                self.add_error(name, _("Choose one of this organization's."))
        return cleaned


@admin.register(PackSize)
class PackSizeAdmin(OperationsAdmin):
    form = PackSizeForm
    list_display = ["__str__", "organization", "quantity", "weight_grams"]
    list_filter = [("organization", ScopedRelatedFilter)]
    search_fields = ["ingredient__name", "product__name", "product__sku"]
    list_select_related = ["organization", "ingredient", "product"]


def _lines_text(visit: Visit) -> str:
    return format_html_join(
        "", "<div>{} {} {} ({})</div>",
        ((line.ingredient or line.product or line.slot_code, line.planned_quantity, line.unit,
          ngettext("%(count)d pack", "%(count)d packs", line.packs) % {"count": line.packs})
         for line in visit.lines.all()),
    )


class VisitInline(admin.TabularInline):
    """A route's visits in stop order with what to bring, as planned: read-only."""

    model = Visit
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ["sequence", "machine", "status", "planned_arrival", "reasons", "pinned",
              "checked_in_at", "checked_out_at", "to_bring"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("machine").prefetch_related(
            "lines__ingredient", "lines__product")

    @admin.display(description=_("to bring"))
    def to_bring(self, visit: Visit) -> str:
        return _lines_text(visit)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Route)
class RouteAdmin(ReadOnlyOperationsAdmin):
    """Routes as the planner wrote them (re-plan or move stops on the routes page)."""

    list_display = ["date", "operator", "organization", "status", "stops", "distance_km",
                    "load_kg", "version"]
    list_filter = ["status", ("organization", ScopedRelatedFilter)]
    search_fields = ["operator__username", "operator__first_name", "operator__last_name",
                     "visits__machine__name"]
    list_select_related = ["operator", "organization"]
    date_hierarchy = "date"
    inlines = [VisitInline]

    @admin.display(description=_("stops"))
    def stops(self, route: Route) -> int:
        return route.visits.count()

    @admin.display(description=_("distance (km)"))
    def distance_km(self, route: Route) -> str:
        return f"{route.distance_m / 1000:.1f}"

    @admin.display(description=_("load (kg)"))
    def load_kg(self, route: Route) -> str:
        return f"{route.load_grams / 1000:.1f}"


class VisitLineInline(admin.TabularInline):
    model = VisitLine
    extra = 0
    can_delete = False
    fields = ["bunker", "slot_code", "ingredient", "product", "planned_quantity", "packs",
              "filled_quantity"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Visit)
class VisitAdmin(ReadOnlyOperationsAdmin):
    organization_lookup = "route__organization"
    list_display = ["route", "sequence", "machine", "status", "planned_arrival", "pinned"]
    list_filter = ["status", "pinned", ("route__organization", ScopedRelatedFilter)]
    search_fields = ["machine__name", "machine__serial_number", "route__operator__username"]
    list_select_related = ["route__operator", "machine"]
    inlines = [VisitLineInline]


@admin.register(VisitLine)
class VisitLineAdmin(ReadOnlyOperationsAdmin):
    organization_lookup = "visit__route__organization"
    list_display = ["visit", "ingredient", "product", "slot_code", "planned_quantity", "packs",
                    "filled_quantity"]
    list_filter = [("visit__route__organization", ScopedRelatedFilter)]
    search_fields = ["visit__machine__name", "ingredient__name", "product__name", "slot_code"]
    list_select_related = ["visit__route__operator", "visit__machine", "ingredient", "product"]


@admin.register(VisitAction)
class VisitActionAdmin(ReadOnlyOperationsAdmin):
    organization_lookup = "visit__route__organization"
    list_display = ["kind", "visit", "user", "received_at"]
    list_filter = ["kind", ("visit__route__organization", ScopedRelatedFilter)]
    search_fields = ["kind", "visit__machine__name", "user__username"]
    list_select_related = ["visit__route__operator", "visit__machine", "user"]
    date_hierarchy = "received_at"


@admin.register(Forecast)
class ForecastAdmin(ReadOnlyOperationsAdmin):
    organization_lookup = "machine__organization"
    list_display = ["machine", "bunker", "slot_code", "level", "rate_per_hour", "runs_out_at",
                    "method", "computed_at"]
    list_filter = ["method", ("machine__organization", ScopedRelatedFilter)]
    search_fields = ["machine__name", "machine__serial_number", "slot_code"]
    list_select_related = ["machine", "bunker__ingredient"]
    date_hierarchy = "runs_out_at"


@admin.register(SlotStock)
class SlotStockAdmin(ReadOnlyOperationsAdmin):
    organization_lookup = "machine__organization"
    list_display = ["machine", "code", "level", "counted_at"]
    list_filter = [("machine__organization", ScopedRelatedFilter)]
    search_fields = ["machine__name", "machine__serial_number", "code"]
    list_select_related = ["machine"]
