from django.urls import re_path
from rest_framework.routers import SimpleRouter

from sales.views import MachinePlanogramView, ProductViewSet, VendIngestView
from telemetry.urls import _UUID

router = SimpleRouter()
router.trailing_slash = "/?"
router.register("products", ProductViewSet, basename="product")

urlpatterns = [
    re_path(r"^sales/?$", VendIngestView.as_view(), name="sales-ingest"),
    re_path(rf"^machines/(?P<machine_id>{_UUID})/planogram/?$", MachinePlanogramView.as_view(),
            name="machine-planogram"),
    *router.urls,
]
