"""Back office for notifications."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from machines.admin import OrganizationScopedAdmin, ScopedRelatedFilter
from notifications import services
from notifications.models import Notification


@admin.register(Notification)
class NotificationAdmin(OrganizationScopedAdmin):
    list_display = ["title", "recipient", "organization", "type", "priority", "read", "created_at"]
    list_filter = [
        "read",
        "type",
        "priority",
        ("organization", ScopedRelatedFilter),
    ]
    search_fields = ["title", "message", "recipient__username", "machine__name"]
    list_select_related = ["recipient", "organization"]
    date_hierarchy = "created_at"
    actions = ["mark_read", "mark_unread"]

    def _report(self, request: HttpRequest, changed: int) -> None:
        self.message_user(
            request,
            ngettext("%(count)d notification updated.", "%(count)d notifications updated.", changed)
            % {"count": changed},
            messages.SUCCESS,
        )

    @admin.action(description=_("Mark selected notifications read"), permissions=["change"])
    def mark_read(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._report(request, services.set_read(notifications=queryset, read=True))

    @admin.action(description=_("Mark selected notifications unread"), permissions=["change"])
    def mark_unread(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._report(request, services.set_read(notifications=queryset, read=False))
