"""The "realtime health" page in the admin (`/admin/realtime/health/`, staff only).

No model: the admin site's URLs are extended with one view, linked from the admin index
(templates/admin/index.html).
"""

from __future__ import annotations

from functools import partial

from django.contrib import admin
from django.urls import path

from .views import realtime_health


def _with_health_page(get_urls):
    def get_urls_with_health_page():
        view = admin.site.admin_view(partial(realtime_health, admin_site=admin.site))
        return [path("realtime/health/", view, name="realtime_health"), *get_urls()]

    return get_urls_with_health_page


if not getattr(admin.site.get_urls, "with_realtime_health", False):
    admin.site.get_urls = _with_health_page(admin.site.get_urls)
    admin.site.get_urls.with_realtime_health = True
