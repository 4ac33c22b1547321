from django.urls import re_path

from devices.views import MachineCommandsView
from telemetry.urls import _UUID

urlpatterns = [
    re_path(rf"^machines/(?P<machine_id>{_UUID})/commands/?$", MachineCommandsView.as_view(),
            name="machine-commands"),
]
