"""REST endpoints of planned routes: read them, read a route's pick list, move a visit.

Thin: the scope comes from `operations.selectors.routes_for`, documents from
`operations.events.route_document` and `operations.pick_list_documents`, the move itself from
`operations.planning.move_visit` (which re-optimizes both routes and emits `route:updated`).
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from machines.selectors import is_manager_of, is_operator_of
from operations.events import route_document
from operations.models import OperatorProfile, Route, Visit
from operations.pick_list_documents import pack_sizes_of, pick_list, pick_list_csv
from operations.selectors import routes_for, with_route_details
from operations.serializers import RouteQuerySerializer, VisitMoveSerializer
from sales.views_reports import CSVRenderer
from telemetry.urls import _UUID

ROUTE_DOCUMENT = OpenApiResponse(OpenApiTypes.OBJECT, description="A RouteDocument (the "
                                 "`route:updated` payload): the route with its visits in "
                                 "order and their lines.")


def filtered_routes(request: Request) -> QuerySet[Route]:
    """The routes the query asks for, within what the user may read; a 400 names a bad
    parameter."""
    query = RouteQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    routes = routes_for(request.user)
    values = query.validated_data
    if "date" in values:
        routes = routes.filter(date=values["date"])
    if "organization" in values:
        routes = routes.filter(organization_id=values["organization"])
    if "operator" in values:
        routes = routes.filter(operator_id=values["operator"])
    return routes.order_by("date", "operator__username", "pk")


class RouteViewSet(viewsets.ReadOnlyModelViewSet):
    """Routes a manager plans for their organizations' operators; an operator reads their own."""

    lookup_value_regex = _UUID
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[Route]:
        return with_route_details(filtered_routes(self.request)
                                  if self.action == "list" else routes_for(self.request.user))

    @extend_schema(
        summary="Routes",
        description="Routes of the organizations you manage (every operator's), and your "
                    "own routes as an operator; a viewer sees none. Ordered by date and "
                    "operator; paginated. Each item is a RouteDocument. 400 names a bad "
                    "parameter.",
        parameters=[
            OpenApiParameter("date", OpenApiTypes.DATE, description="YYYY-MM-DD."),
            OpenApiParameter("organization", OpenApiTypes.UUID),
            OpenApiParameter("operator", OpenApiTypes.INT, description="A user id."),
        ],
        responses={200: ROUTE_DOCUMENT},
    )
    def list(self, request: Request, *args, **kwargs) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([route_document(route) for route in page])

    @extend_schema(summary="A route", responses={200: ROUTE_DOCUMENT},
                   description="One RouteDocument. 404: not a route you may read.")
    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        return Response(route_document(self.get_object()))

    @extend_schema(
        summary="A route's pick list",
        description="What to load for the route: `stops` (each machine in stop order with "
                    "its lines: grams of an ingredient or units of a product, the packs "
                    "they round up to and the pack's size) and `totals` per ingredient and "
                    "product. Skipped visits are left out. `?format=csv`: one row per line, "
                    "then the totals (stop `total`). 404: not a route you may read.",
        parameters=[OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "csv"])],
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT)},
    )
    @action(detail=True, methods=["get"], url_path="pick-list",
            renderer_classes=[*api_settings.DEFAULT_RENDERER_CLASSES, CSVRenderer])
    def pick_list(self, request: Request, pk=None) -> Response:
        route = self.get_object()
        document = pick_list(route, pack_sizes=pack_sizes_of(route.organization_id))
        if request.accepted_renderer.format == "csv":
            name = f"pick-list-{route.date.isoformat()}-{route.operator.get_username()}.csv"
            return Response(pick_list_csv(document), headers={
                "Content-Disposition": f'attachment; filename="{name}"'})
        return Response(document)

    def handle_exception(self, exc):
        # A 404 or 400 stays JSON for a CSV request: the CSV renderer writes finished text.
        response = super().handle_exception(exc)
        if getattr(getattr(self.request, "accepted_renderer", None), "format", "") == "csv":
            self.request.accepted_renderer = JSONRenderer()
            self.request.accepted_media_type = JSONRenderer.media_type
        return response


MANAGERS_ONLY = _lazy("Only a manager of the visit's organization may move it.")


def _target_operator(visit: Visit, operator_id: int):
    """The operator a visit may go to: an active operator of its organization who has an
    operator profile there (the planner needs their shift, vehicle and depot)."""
    organization_id = visit.route.organization_id
    profile = OperatorProfile.objects.select_related("user").filter(
        organization_id=organization_id, user_id=operator_id, active=True).first()
    if profile is None or not is_operator_of(operator_id, organization_id):
        raise serializers.ValidationError({"operatorId": [_(
            "Not an operator of this organization with an active operator profile.")]})
    return profile.user


class VisitMoveView(APIView):
    """`POST /api/v1/visits/{id}/move/`: a manager moves a stop to another operator or day."""

    @extend_schema(
        operation_id="visits_move",
        summary="Move a visit to another operator or day (managers)",
        description="Moves the visit to `operatorId`'s route and/or to `date` (creating "
                    "that route when needed), pins it there (re-plans keep it) and "
                    "re-optimizes both routes; both are sent as `route:updated`. Answers "
                    "`{from, to}`: both RouteDocuments (`from` null when the visit stayed "
                    "on its route). 400 names the field: `operatorId` (not an active "
                    "operator of the visit's organization with an active operator "
                    "profile), `date` (a day that has passed), `status` (a visit done or "
                    "under way stays). "
                    "403: not a manager of the visit's organization. 404: not a visit you "
                    "may read.",
        request=VisitMoveSerializer,
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT)},
    )
    def post(self, request: Request, visit_id) -> Response:
        visit = get_object_or_404(
            Visit.objects.select_related("route__organization", "route__operator"),
            pk=visit_id, route__in=routes_for(request.user))
        organization = visit.route.organization
        if not is_manager_of(request.user, organization.pk):
            raise PermissionDenied(MANAGERS_ONLY)
        data = VisitMoveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        operator = _target_operator(visit, values["operatorId"]) if "operatorId" in values \
            else None
        from operations import planning  # the planner pulls in the solver: load it on use

        try:
            source, target = planning.move_visit(visit, operator=operator,
                                                 date=values.get("date"), actor=request.user)
        except planning.PlanningError as error:
            raise serializers.ValidationError(error.errors) from error
        except planning.PlanningPermissionDenied as error:  # the role changed meanwhile
            raise PermissionDenied(MANAGERS_ONLY) from error
        return Response({
            "from": route_document(source) if source.pk != target.pk else None,
            "to": route_document(target),
        })
