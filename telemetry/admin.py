"""Back office for telemetry: readings (read-only, devices write them) and machine errors."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from machines.admin import OrganizationScopedAdmin, ScopedRelatedFilter
from telemetry.models import MachineError, TelemetryReading


@admin.register(TelemetryReading)
class TelemetryReadingAdmin(OrganizationScopedAdmin):
    organization_lookup = "machine__organization"
    list_display = [
        "machine",
        "timestamp",
        "status",
        "temperature",
        "humidity",
        "uptime_seconds",
        "last_sale_at",
    ]
    list_filter = ["status", ("machine__organization", ScopedRelatedFilter)]
    search_fields = ["machine__name", "machine__serial_number"]
    list_select_related = ["machine"]
    date_hierarchy = "timestamp"
    # Counting a large table on every page is slow; "Show all" is enough.
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class OpenErrorFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", _("Open")), ("resolved", _("Resolved"))]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        if self.value() == "open":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


@admin.register(MachineError)
class MachineErrorAdmin(OrganizationScopedAdmin):
    organization_lookup = "machine__organization"
    list_display = ["code", "machine", "severity", "message", "occurred_at", "resolved_at", "open"]
    list_filter = [
        "severity",
        OpenErrorFilter,
        ("machine__organization", ScopedRelatedFilter),
    ]
    search_fields = ["code", "message", "machine__name", "machine__serial_number"]
    list_select_related = ["machine"]
    date_hierarchy = "occurred_at"

    @admin.display(description=_("open"), boolean=True)
    def open(self, error: MachineError) -> bool:
        return error.is_open
