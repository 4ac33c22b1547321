from django.urls import re_path
from rest_framework.routers import SimpleRouter

from operations.views_forecasts import ForecastListView, MachineForecastsView
from operations.views_planning import PlanDayView
from operations.views_routes import RouteViewSet, VisitMoveView
from operations.views_visits import MyRoutesView, VisitActionsView, VisitPhotoView
from telemetry.urls import _UUID

router = SimpleRouter()
router.trailing_slash = "/?"
router.register("routes", RouteViewSet, basename="route")

urlpatterns = [
    # Before the router's routes/{pk}: "mine" is not a route's id.
    re_path(r"^routes/mine/?$", MyRoutesView.as_view(), name="routes-mine"),
    re_path(r"^routes/plan/?$", PlanDayView.as_view(), name="routes-plan"),
    re_path(rf"^visits/(?P<visit_id>{_UUID})/actions/?$", VisitActionsView.as_view(),
            name="visit-actions"),
    re_path(rf"^visits/(?P<visit_id>{_UUID})/photo/?$", VisitPhotoView.as_view(),
            name="visit-photo"),
    re_path(rf"^visits/(?P<visit_id>{_UUID})/move/?$", VisitMoveView.as_view(),
            name="visit-move"),
    re_path(rf"^machines/(?P<machine_id>{_UUID})/forecasts/?$", MachineForecastsView.as_view(),
            name="machine-forecasts"),
    re_path(r"^forecasts/?$", ForecastListView.as_view(), name="forecasts"),
    *router.urls,
]
