"""Back office of the commands to machines: read-only (a command is sent from the monitor
page or the API, and only its device's answer changes it), scoped to the staff member's
organizations like the fleet's admins."""

from __future__ import annotations

from django.contrib import admin

from devices.models import MachineCommand
from machines.admin import ScopedRelatedFilter
from sales.admin import ReadOnlyAdmin


@admin.register(MachineCommand)
class MachineCommandAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "machine", "kind", "state", "created_by", "delivered_at",
                    "answered_at", "expires_at"]
    list_filter = ["state", "kind", ("organization", ScopedRelatedFilter)]
    search_fields = ["machine__name", "machine__serial_number", "created_by__username"]
    list_select_related = ["machine", "created_by"]
    date_hierarchy = "created_at"
    fields = ["organization", "machine", "kind", "params", "state", "result", "created_by",
              "created_at", "expires_at", "delivered_at", "answered_at"]
    readonly_fields = fields
