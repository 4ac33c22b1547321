"""The dashboard's pages: server-rendered shells that the scripts in static/js/ fill in.

Every page needs a session and shows only the user's organizations: the shells carry ids
and labels, all fleet data comes from the organization-scoped REST API and the realtime
gateway. The one JSON endpoint here hands the signed-in user the access token the
websocket needs.
"""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST
from rest_framework_simplejwt.tokens import AccessToken

from machines import selectors
from machines.models import MachineStatus, Organization, TaskKind, TaskStatus
from operations.models import VisitStatus
from operations.pick_list_documents import pack_sizes_of, pick_list
from operations.selectors import route_operators_in, routes_for, with_route_details
from sales.models import PaymentMethod

LOGIN_URL = reverse_lazy("dashboard:login")

#: Board columns, in order. Cancelled tasks are not shown on the board.
BOARD_COLUMNS = (TaskStatus.TODO, TaskStatus.IN_PROGRESS, TaskStatus.DONE)


def page(view):
    """A dashboard page: signed-in users only, sent to the dashboard's login form otherwise."""
    return login_required(view, login_url=LOGIN_URL)


def start_page(user) -> str:
    """Where a person starts: the task board for field operators (their phone app), the live
    map for everyone who manages or watches the fleet."""
    if not selectors.is_manager_anywhere(user) and selectors.is_operator_anywhere(user):
        return reverse("dashboard:tasks")
    return reverse("dashboard:map")


class LoginView(auth_views.LoginView):
    """Signs in and goes to `?next=` when given (a safe URL), else to `start_page`."""

    template_name = "login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self) -> str:
        return start_page(self.request.user)


class LogoutView(auth_views.LogoutView):
    """POST only (Django's rule): the header's sign-out button is a small form."""

    next_page = reverse_lazy("dashboard:login")


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(start_page(request.user))
    return redirect("dashboard:map")


def _status_labels() -> dict[str, str]:
    return {value: str(label) for value, label in MachineStatus.choices}


def _organization_ids(user) -> list[str]:
    """The viewer's organizations: the page subscribes to their `org:{id}` rooms."""
    rows = selectors.organization_ids_for(user).values_list("organization_id", flat=True)
    return sorted(str(pk) for pk in rows)


@require_GET
@page
def live_map(request: HttpRequest) -> HttpResponse:
    return render(request, "map.html", {
        "nav": "map",
        "tile_url": settings.MAP_TILE_URL,
        "tile_attribution": settings.MAP_TILE_ATTRIBUTION,
        "status_labels": _status_labels(),
        "organization_ids": _organization_ids(request.user),
    })


#: The fleet list's columns: the REST list's `?ordering=` key and the column's title.
FLEET_COLUMNS = (
    ("name", _("Name")),
    ("status", _("Status")),
    ("last_seen_at", _("Last seen")),
    ("lowest_bunker_percent", _("Lowest bunker")),
    ("open_errors", _("Open errors")),
    ("revenue_today", _("Revenue today")),
    ("last_sale_at", _("Last sale")),
    ("runs_out_at", _("Runs out")),
)


@require_GET
@page
def fleet(request: HttpRequest) -> HttpResponse:
    """The fleet list: every machine, searchable and sortable, statuses live."""
    return render(request, "fleet.html", {
        "nav": "fleet",
        "status_labels": _status_labels(),
        "organization_ids": _organization_ids(request.user),
        "columns": [{"key": key, "label": str(label)} for key, label in FLEET_COLUMNS],
    })


@require_GET
@page
def monitor(request: HttpRequest, machine_id) -> HttpResponse:
    # Scoped like the API: another organization's machine does not exist for this user.
    machine = (
        selectors.machines_for(request.user)
        .filter(pk=machine_id)
        .select_related("organization")
        .first()
    )
    if machine is None:
        raise Http404("No such machine")
    organization = machine.organization
    return render(request, "monitor.html", {
        "nav": "map",
        "machine": machine,
        "thresholds": {
            "temperature": float(organization.temperature_alert_celsius),
            "humidity": float(organization.humidity_alert_percent),
        },
        "status_labels": _status_labels(),
        # The audits card's upload form; the endpoint checks the role again.
        "can_upload_audits": selectors.is_manager_of(request.user, machine.organization_id),
        # The Commands card (the same role; the endpoint checks it again).
        "can_send_commands": selectors.is_manager_of(request.user, machine.organization_id),
    })


@require_GET
@page
def task_board(request: HttpRequest) -> HttpResponse:
    user = request.user
    operators = []
    if selectors.is_manager_anywhere(user):
        operators = [
            {"id": operator.pk, "name": operator.get_full_name() or operator.get_username()}
            for operator in selectors.operators_managed_by(user)
        ]
    # An operator sees their own board; a manager picks one of their operators.
    assignee_id = user.pk
    requested = request.GET.get("operator", "")
    if operators:
        known = {operator["id"] for operator in operators}
        assignee_id = int(requested) if requested.isdigit() and int(requested) in known else (
            operators[0]["id"]
        )
    columns = [{"status": status.value, "label": str(status.label)} for status in BOARD_COLUMNS]
    return render(request, "tasks.html", {
        "nav": "tasks",
        "operators": operators,
        "assignee_id": assignee_id,
        "columns": columns,
        "kind_labels": {value: str(label) for value, label in TaskKind.choices},
        "status_labels": {value: str(label) for value, label in TaskStatus.choices},
    })


@require_GET
@page
def operator_route(request: HttpRequest) -> HttpResponse:
    """The operator's route of the day on their phone: the next stop, what to bring, and the
    actions at the machine, queued in the page while offline. Everything comes from
    GET /api/v1/routes/mine/ and `route:updated` on the operator's board room."""
    return render(request, "route.html", {
        "nav": "route",
        "visit_status_labels": {value: str(label) for value, label in VisitStatus.choices},
    })


@require_GET
@page
def sales(request: HttpRequest) -> HttpResponse:
    """The sales report page. Managers only, like the report API it reads: sales figures
    are the business's, not a field operator's or a viewer's (403)."""
    user = request.user
    if not selectors.is_manager_anywhere(user):
        raise PermissionDenied
    organizations = [
        {"id": str(pk), "name": name}
        for pk, name in Organization.objects.filter(
            pk__in=selectors.managed_organization_ids_for(user)).order_by("name")
        .values_list("pk", "name")
    ]
    return render(request, "sales.html", {
        "nav": "sales",
        "organizations": organizations,
        "organization_ids": [organization["id"] for organization in organizations],
        "group_labels": {key: str(label) for key, label in SALES_GROUPS},
        "method_labels": {value: str(label) for value, label in PaymentMethod.choices},
    })


#: The sales page's groupings: the report API's `groupBy` and the switch's label.
SALES_GROUPS = (
    ("day", _("Day")),
    ("machine", _("Machine")),
    ("product", _("Product")),
    ("paymentMethod", _("Payment method")),
)


@require_GET
@page
def routes(request: HttpRequest) -> HttpResponse:
    """The day's routes of the organizations a manager manages, one column per operator,
    stops dragged between operators and days. Managers only (403), like moving a stop."""
    user = request.user
    if not selectors.is_manager_anywhere(user):
        raise PermissionDenied
    organizations = [
        {"id": str(pk), "name": name, "timeZone": zone}
        for pk, name, zone in Organization.objects.filter(
            pk__in=selectors.managed_organization_ids_for(user)).order_by("name")
        .values_list("pk", "name", "time_zone")
    ]
    return render(request, "routes.html", {
        "nav": "routes",
        "organizations": organizations,
        "organization_ids": [organization["id"] for organization in organizations],
        "operators": route_operators_in([organization["id"] for organization in organizations]),
        "visit_status_labels": {value: str(label) for value, label in VisitStatus.choices},
        "reason_labels": {key: str(label) for key, label in VISIT_REASONS},
    })


#: Why a machine is on a route (`Visit.reasons` keys), as the routes page names them.
VISIT_REASONS = (
    ("runs_out", _("Runs out")),
    ("critical_error", _("Critical error")),
    ("cash", _("Cash")),
    ("cleaning", _("Cleaning")),
    ("task", _("Task")),
    ("manual", _("Placed by a manager")),
)


@require_GET
@page
def route_pick_list(request: HttpRequest, route_id) -> HttpResponse:
    """A route's printable pick list: managers of its organization and its own operator."""
    route = (with_route_details(routes_for(request.user).filter(pk=route_id))
             .select_related("organization", "depot").first())
    if route is None:
        raise Http404("No such route")
    document = pick_list(route, pack_sizes=pack_sizes_of(route.organization_id))
    labels = dict(VisitStatus.choices)
    stops = [{**stop, "arrival": parse_datetime(stop["plannedArrival"] or ""),
              "statusLabel": labels.get(stop["status"], stop["status"])}
             for stop in document["stops"]]
    return render(request, "pick_list.html", {
        "nav": "routes", "route": route, "pick_list": document, "stops": stops,
    })


def _json_login_required(view):
    """Like login_required, but a JSON 401 for scripts instead of a redirect."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not request.user.is_authenticated:
            return JsonResponse({"detail": "Not signed in."}, status=401)
        return view(request, *args, **kwargs)

    return wrapper


@require_POST
@_json_login_required
def socket_token(request: HttpRequest) -> JsonResponse:
    """`{access, expiresAt}`: a fresh JWT access token for the signed-in session user.

    POST with the CSRF token, so another site cannot mint tokens with the user's cookie.
    `expiresAt` is a unix time in seconds.
    """
    token = AccessToken.for_user(request.user)
    response = JsonResponse({"access": str(token), "expiresAt": int(token["exp"])})
    response["Cache-Control"] = "no-store"
    return response
