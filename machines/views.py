"""REST endpoints of the fleet. Thin: querysets from selectors, writes through services."""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.filters import SearchFilter
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from machines import selectors, services
from machines.filters import (
    IngredientFilter,
    MachineFilter,
    OperatorFilter,
    StrictOrderingFilter,
    TaskFilter,
)
from machines.models import Task
from machines.permissions import IsFleetManager, ManagersCreate
from machines.serializers import (
    IngredientSerializer,
    MachineSerializer,
    MachineStatusUpdateSerializer,
    MachineTelemetrySerializer,
    OperatorSerializer,
    TaskCreateSerializer,
    TaskSerializer,
    TaskUpdateSerializer,
)
from operations.selectors_forecasts import with_runs_out_at
from sales.selectors import with_revenue_today
from telemetry.selectors import machine_telemetry

WITH_LOCATION = OpenApiParameter(
    "withLocation",
    OpenApiTypes.BOOL,
    description=(
        "true: return every located machine of the user (after the filters and ?search=) as "
        "a plain, UNPAGINATED list of map markers [{id, name, lat, lng, status}], ordered by "
        "name; page and page_size are ignored. At most MAP_MAX_MACHINES markers (default "
        "50,000): beyond that the answer is a 400 naming withLocation (narrow it with "
        "?organization= or ?status=)."
    ),
)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@extend_schema_view(
    list=extend_schema(
        parameters=[WITH_LOCATION],
        description=(
            "The user's machines, paginated; or the map markers with withLocation=true "
            "(unpaginated, bounded by MAP_MAX_MACHINES)."
        ),
    ),
    partial_update=extend_schema(
        request=MachineStatusUpdateSerializer, responses=MachineSerializer,
        description="Managers of the machine's organization set its status: `maintenance` "
                    "holds (device readings no longer change it, the offline watchdog skips "
                    "it) until a person sets `online`. Emits one `machine:status`.",
    ),
)
class MachineViewSet(viewsets.ReadOnlyModelViewSet):
    """Machines of the organizations the user belongs to; managers set a held status
    (PATCH `{status}`, the only write: the rest is edited in the admin)."""

    serializer_class = MachineSerializer
    filterset_class = MachineFilter
    filter_backends = [DjangoFilterBackend, SearchFilter, StrictOrderingFilter]
    search_fields = ["name", "serial_number", "address"]
    ordering_fields = ["name", "serial_number", "status", "last_seen_at", "created_at",
                       "lowest_bunker_percent", "open_errors", "low_bunkers", "revenue_today",
                       "last_sale_at", "runs_out_at"]
    ordering_aliases = {"serialNumber": "serial_number", "lastSeenAt": "last_seen_at",
                        "createdAt": "created_at", "lowestBunkerPercent": "lowest_bunker_percent",
                        "openErrors": "open_errors", "lowBunkers": "low_bunkers",
                        "revenueToday": "revenue_today", "lastSaleAt": "last_sale_at",
                        "runsOutAt": "runs_out_at"}
    ordering = ["name"]

    def get_queryset(self) -> QuerySet:
        if self.action == "list":
            # Revenue today and the earliest run-out for the whole page in the list's own
            # query (sortable too).
            return with_runs_out_at(with_revenue_today(
                selectors.machine_list_for(self.request.user), user=self.request.user))
        return selectors.machines_for(self.request.user)

    def list(self, request: Request, *args, **kwargs) -> Response:
        if _truthy(request.query_params.get("withLocation")):
            machines = self.filter_queryset(selectors.machine_list_for(request.user))
            try:
                points = selectors.machine_map_points(machines, limit=settings.MAP_MAX_MACHINES)
            except selectors.TooManyMapPoints as error:
                raise serializers.ValidationError({"withLocation": [
                    f"More than {error.limit} located machines for one map: narrow the list "
                    "with ?organization= or ?status=, or page through it without withLocation."
                ]}) from error
            return Response(points)
        return super().list(request, *args, **kwargs)

    def partial_update(self, request: Request, *args, **kwargs) -> Response:
        machine = self.get_object()
        data = MachineStatusUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.set_machine_status(
            machine=machine, status=data.validated_data["status"], actor=request.user
        )
        return Response(MachineSerializer(self.get_object()).data)

    @extend_schema(
        responses=MachineTelemetrySerializer,
        description="The machine's latest state in the MachineTelemetry shape.",
    )
    @action(detail=True, methods=["get"], url_path="telemetry", filter_backends=[])
    def telemetry(self, request: Request, pk: str | None = None) -> Response:
        return Response(machine_telemetry(self.get_object()))


class IngredientViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = IngredientSerializer
    filterset_class = IngredientFilter
    search_fields = ["name"]
    ordering_fields = ["name", "created_at"]
    ordering = ["name"]

    def get_queryset(self) -> QuerySet:
        return selectors.ingredients_for(self.request.user)


@extend_schema_view(
    partial_update=extend_schema(request=TaskUpdateSerializer, responses=TaskSerializer),
    create=extend_schema(request=TaskCreateSerializer, responses={201: TaskSerializer}),
)
class TaskViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Operator tasks of the user's organizations.

    An operator may move the status of their own tasks; a manager may change any task of
    the organization (status, assignee, title, notes, priority, dueAt) and create tasks.
    """

    serializer_class = TaskSerializer
    permission_classes = [IsAuthenticated, ManagersCreate]
    filterset_class = TaskFilter
    search_fields = ["title", "notes", "machine__name", "machine__serial_number"]
    ordering_fields = ["due_at", "created_at", "updated_at", "completed_at", "priority", "status"]
    ordering = ["due_at", "-created_at"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet:
        return selectors.tasks_for(self.request.user)

    def create(self, request: Request, *args, **kwargs) -> Response:
        data = TaskCreateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        try:
            task = services.create_task(actor=request.user, **data.validated_data)
        except services.InvalidAssignee as error:
            raise serializers.ValidationError({"assignee": [str(error)]}) from error
        return Response(TaskSerializer(task).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args, **kwargs) -> Response:
        task: Task = self.get_object()
        context = {**self.get_serializer_context(), "task": task}
        data = TaskUpdateSerializer(data=request.data, partial=True, context=context)
        data.is_valid(raise_exception=True)
        try:
            services.update_task(task=task, actor=request.user, **data.validated_data)
        except services.InvalidAssignee as error:
            raise serializers.ValidationError({"assignee": [str(error)]}) from error
        except IntegrityError as error:
            # Reopening a task the server opened while it opened another for the same
            # bunker or machine (one_open_refill_task_per_bunker, ..._collection_...).
            raise serializers.ValidationError({"status": [_(
                "Another task of this kind is open for this machine: finish that one."
            )]}) from error
        task.refresh_from_db()
        return Response(TaskSerializer(task).data)


class OperatorViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Operators of the organizations the user manages: the assignee picker's choices."""

    serializer_class = OperatorSerializer
    permission_classes = [IsAuthenticated, IsFleetManager]
    search_fields = ["username", "first_name", "last_name"]
    ordering_fields = ["username"]
    ordering = ["username"]
    filterset_class = OperatorFilter

    def get_queryset(self) -> QuerySet:
        return selectors.operators_managed_by(self.request.user)
