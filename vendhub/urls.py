from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView, TokenVerifyView

from realtime.views import prometheus_metrics
from vendhub.health import healthz
from vendhub.throttling import LOGIN_THROTTLES, REFRESH_THROTTLES

api_v1 = [
    path("auth/token/", TokenObtainPairView.as_view(throttle_classes=LOGIN_THROTTLES),
         name="token_obtain_pair"),
    path("auth/token/refresh/", TokenRefreshView.as_view(throttle_classes=REFRESH_THROTTLES),
         name="token_refresh"),
    path("auth/token/verify/", TokenVerifyView.as_view(), name="token_verify"),
    path("", include("machines.urls")),
    path("", include("telemetry.urls")),
    path("", include("notifications.urls")),
    path("", include("sales.urls")),
    path("", include("operations.urls")),
    path("", include("devices.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI from our static files, its init script from `?script` (no inline code, for
    # the Content-Security-Policy).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema",
                                                      template_name="api_docs.html"),
         name="api-docs"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("metrics", prometheus_metrics, name="metrics"),
    path("healthz", healthz, name="healthz"),
    path("", include("vendhub.dashboard_urls")),
]

if settings.DEBUG:
    # Uploaded media in development (a proxy serves them in production), except the visit
    # photos: only their organization may read them (GET /api/v1/visits/{id}/photo/).
    urlpatterns.append(re_path(rf"^{settings.MEDIA_URL.strip('/')}/(?!visits/)(?P<path>.+)$",
                               serve, {"document_root": settings.MEDIA_ROOT}))
