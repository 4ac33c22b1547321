"""REST endpoints of forecasts. Thin: the scope from `operations.selectors_forecasts`
(every member of the machine's organization reads them), documents from the same place."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from machines.selectors import machines_for
from operations.events import machine_forecast_event
from operations.selectors_forecasts import (
    forecast_documents,
    forecasts_for,
    machine_forecast_rows,
    runs_out_before,
    slot_names,
)
from operations.serializers_forecasts import (
    ForecastQuerySerializer,
    ForecastSerializer,
    MachineForecastsSerializer,
)


class MachineForecastsView(APIView):
    """`GET /api/v1/machines/{id}/forecasts/`."""

    @extend_schema(
        operation_id="machines_forecasts_retrieve",
        summary="When the machine's bunkers and slots run out",
        description="Every bunker's (grams) and slot's (units) forecast as last computed: "
                    "level, rate per hour, run-out time with its interval, the method "
                    "(recent rate, hour-of-day profile, none yet). 404: not a machine of the "
                    "user's organizations.",
        responses={200: MachineForecastsSerializer,
                   404: OpenApiResponse(description="Not found.")},
    )
    def get(self, request: Request, machine_id) -> Response:
        machine = get_object_or_404(machines_for(request.user).prefetch_related(None),
                                    pk=machine_id)
        rows = machine_forecast_rows(machine)
        computed = max((row.computed_at for row in rows), default=None)
        names = slot_names(machine.pk) if any(not row.bunker_id for row in rows) else {}
        return Response(machine_forecast_event(machine.pk, rows, computed_at=computed,
                                               slot_names=names))


class ForecastListView(GenericAPIView):
    """`GET /api/v1/forecasts/`: what runs out across the user's fleet, soonest first."""

    serializer_class = ForecastSerializer
    filter_backends: list = []

    @extend_schema(
        operation_id="forecasts_list",
        summary="What runs out soonest",
        description="Forecasts of the user's organizations' bunkers and slots that run out, "
                    "sorted by runsOutAt (paginated). `runsOutBefore` keeps those before an "
                    "instant, `organization` one organization (another's: empty), `kind` "
                    "bunkers or slots. A bad parameter is a 400 naming it.",
        parameters=[ForecastQuerySerializer],
        responses={200: ForecastSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        query = ForecastQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        forecasts = forecasts_for(request.user)
        if "organization" in values:
            forecasts = forecasts.filter(machine__organization_id=values["organization"])
        if values.get("kind") == "bunker":
            forecasts = forecasts.filter(bunker__isnull=False)
        elif values.get("kind") == "slot":
            forecasts = forecasts.filter(bunker__isnull=True)
        forecasts = runs_out_before(forecasts, values.get("runsOutBefore"))
        page = self.paginate_queryset(forecasts)
        return self.get_paginated_response(forecast_documents(list(page)))

