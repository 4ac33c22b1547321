from django.urls import re_path
from rest_framework.routers import SimpleRouter

from sales.views import (
    AuditIngestView,
    MachineAuditListView,
    MachinePlanogramView,
    ProductViewSet,
    VendIngestView,
)
from sales.views_cash import MachineCashView, MachineCollectionsView
from sales.views_reports import SalesReportView
from telemetry.urls import _UUID

router = SimpleRouter()
router.trailing_slash = "/?"
router.register("products", ProductViewSet, basename="product")

urlpatterns = [
    re_path(r"^sales/?$", VendIngestView.as_view(), name="sales-ingest"),
    re_path(r"^sales/report/?$", SalesReportView.as_view(), name="sales-report"),
    re_path(rf"^machines/(?P<machine_id>{_UUID})/planogram/?$", MachinePlanogramView.as_view(),
            name="machine-planogram"),
    re_path(r"^audits/?$", AuditIngestView.as_view(), name="audits-ingest"),
    re_path(rf"^machines/(?P<machine_id>{_UUID})/cash/?$", MachineCashView.as_view(),
            name="machine-cash"),
    re_path(rf"^machines/(?P<machine_id>{_UUID})/collections/?$",
            MachineCollectionsView.as_view(), name="machine-collections"),
    re_path(rf"^machines/(?P<machine_id>{_UUID})/audits/?$", MachineAuditListView.as_view(),
            name="machine-audits"),
    *router.urls,
]
