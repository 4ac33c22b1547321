"""Back office for notifications."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from machines import selectors as machine_selectors
from machines.admin import OrganizationScopedAdmin, ScopedRelatedFilter
from notifications import selectors, services
from notifications.models import LanguagePreference, Notification

User = get_user_model()


@admin.register(Notification)
class NotificationAdmin(OrganizationScopedAdmin):
    """The viewer's own notifications, as in their notification centre, superusers
    included: marking someone else's alert read would hide it from them, and nobody needs
    to read another person's messages to run the fleet. Another person's notification is
    "not found" (change page, actions)."""

    list_display = ["display_title", "recipient", "organization", "type", "priority", "read",
                    "created_at"]
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

    @admin.display(description=_("title"), ordering="title")
    def display_title(self, notification: Notification) -> str:
        # In the admin's language, as the notification centre shows it (the stored title is
        # the site's default language, what the search box searches).
        return notification.title_text()

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # The bulk actions act on this queryset too, so they cannot reach another's rows.
        own = selectors.notifications_for(request.user).values("pk")
        return super().get_queryset(request).filter(pk__in=own)

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "recipient":
            kwargs["queryset"] = User.objects.filter(pk=request.user.pk)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

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


@admin.register(LanguagePreference)
class LanguagePreferenceAdmin(admin.ModelAdmin):
    """The language each person's socket events are written in (set by the dashboard's
    language switcher). Staff see and change only the people of their organizations, as
    in the user admin; superusers everyone's."""

    list_display = ["user", "language", "user_email"]
    list_filter = ["language"]
    search_fields = ["user__username", "user__email"]
    list_select_related = ["user"]

    @admin.display(description=_("email"), ordering="user__email")
    def user_email(self, preference: LanguagePreference) -> str:
        return preference.user.email

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        organization_ids = machine_selectors.admin_organization_ids(request.user)
        if organization_ids is None:
            return queryset
        return queryset.filter(user__in=machine_selectors.members_of(organization_ids))

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        organization_ids = machine_selectors.admin_organization_ids(request.user)
        if db_field.name == "user" and organization_ids is not None:
            kwargs["queryset"] = machine_selectors.members_of(organization_ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
