"""Routes of the dashboard pages (included at the site root by vendhub/urls.py)."""

from django.urls import path
from django.views.i18n import JavaScriptCatalog

from notifications.views import set_language
from vendhub import views

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("map/", views.live_map, name="map"),
    path("fleet/", views.fleet, name="fleet"),
    path("machines/<uuid:machine_id>/", views.monitor, name="monitor"),
    path("tasks/", views.task_board, name="tasks"),
    path("route/", views.operator_route, name="route"),
    path("sales/", views.sales, name="sales"),
    path("routes/", views.routes, name="routes"),
    path("routes/<uuid:route_id>/pick-list/", views.route_pick_list, name="pick_list"),
    path("dashboard/token/", views.socket_token, name="token"),
    path("i18n/setlang/", set_language, name="set_language"),
    path("jsi18n/", JavaScriptCatalog.as_view(domain="djangojs"), name="jsi18n"),
]
