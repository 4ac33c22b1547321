"""Per-request settings taken from who is asking."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.utils import timezone

from machines.selectors import time_zone_for


class OrganizationTimeZoneMiddleware:
    """Activate the time zone of the signed-in person's organization for the request, so
    the dashboard and the admin show times where the fleet is (and say which: the page
    footer names the zone). REST answers are unaffected: every timestamp they return is
    UTC with `Z` (vendhub/fields.py). One small query per signed-in page request."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            timezone.activate(ZoneInfo(time_zone_for(user)))
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
