from django.urls import re_path

from telemetry.views import MachineTelemetryHistoryView, TelemetryIngestView

_UUID = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"

urlpatterns = [
    re_path(r"^telemetry/?$", TelemetryIngestView.as_view(), name="telemetry-ingest"),
    re_path(rf"^machines/(?P<machine_id>{_UUID})/telemetry/history/?$",
            MachineTelemetryHistoryView.as_view(), name="machine-telemetry-history"),
]
