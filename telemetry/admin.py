"""Back office for telemetry: readings and health flags (read-only: ingestion writes them)
and machine errors. Device keys have their own module, telemetry/admin_devicekeys.py."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from machines.admin import OrganizationScopedAdmin, ScopedRelatedFilter
from telemetry.models import MachineError, MachineHealth, TelemetryReading


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


@admin.register(MachineHealth)
class MachineHealthAdmin(OrganizationScopedAdmin):
    """The environment rules' episode flags (telemetry.rules), for inspection only."""

    organization_lookup = "machine__organization"
    list_display = ["machine", "temperature_alert_active", "humidity_alert_active", "updated_at"]
    list_filter = [
        "temperature_alert_active",
        "humidity_alert_active",
        ("machine__organization", ScopedRelatedFilter),
    ]
    search_fields = ["machine__name", "machine__serial_number"]
    list_select_related = ["machine"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
