"""REST endpoints of a machine's cash: its estimate and its collections. Thin: the
estimate and the recording are `sales.cash`'s."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from machines.models import Machine
from machines.selectors import machines_for
from sales import cash
from sales.models import CashCollection
from sales.serializers import CashCollectionInSerializer


def _machine(request: Request, machine_id) -> Machine:
    """One of the user's organizations' machines (another's: 404)."""
    return get_object_or_404(machines_for(request.user).select_related("organization"),
                             pk=machine_id)


class MachineCashView(APIView):
    """`GET /api/v1/machines/{id}/cash/`: the cash estimated in the machine's box."""

    @extend_schema(
        operation_id="machines_cash_retrieve",
        summary="Cash in the machine",
        description="The cash estimated in the machine's box since its last collection "
                    "(`since`; null: never collected): `expected`, from the cash vends "
                    "(`source: vends`) or, where audits cover the time since the collection, "
                    "from their cash-box counters (`source: audit`); both `vendCash` and "
                    "`auditCash` are given. `threshold` is the organization's collection "
                    "threshold (0: off). Money in the currency's smallest unit in use. 404: "
                    "not a machine of the user's organizations.",
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT)},
    )
    def get(self, request: Request, machine_id) -> Response:
        machine = _machine(request, machine_id)
        position = cash.cash_position(machine=machine)
        return Response(cash.position_document(machine=machine, position=position))


class MachineCollectionsView(ListAPIView):
    """`GET|POST /api/v1/machines/{id}/collections/`."""

    filter_backends: list = []

    def get_queryset(self) -> QuerySet:
        machine = _machine(self.request, self.kwargs["machine_id"])
        return (CashCollection.objects.filter(machine=machine).select_related("collected_by")
                .order_by("-collected_at"))

    @extend_schema(
        operation_id="machines_collections_list",
        summary="A machine's cash collections",
        description="Collections of the machine, newest first: counted `amount`, `expected` "
                    "and their `difference` (counted minus expected). 404: not a machine of "
                    "the user's organizations.",
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT)},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([cash.collection_document(c) for c in page])

    @extend_schema(
        operation_id="machines_collections_create",
        summary="Record a cash collection",
        description="The assignee of the machine's open collection task, or a manager of its "
                    "organization, records the cash counted: the expected amount is the "
                    "estimate at `collectedAt` (default now), the open collection task is "
                    "done, and the estimate starts again from zero. 400 names the field "
                    "(`amount`: a whole number, 0 or more; `collectedAt`: not in the future, "
                    "after the last collection). 403: a viewer, or an operator without the "
                    "task. 404: another organization's machine.",
        request=CashCollectionInSerializer,
        responses={201: OpenApiResponse(OpenApiTypes.OBJECT, description="{id, amount, "
                                        "expected, difference, expectedSource, taskId, ...}")},
    )
    def post(self, request: Request, machine_id) -> Response:
        machine = _machine(request, machine_id)
        if not cash.may_record_collection(machine=machine, actor=request.user):
            raise PermissionDenied(_("Only a manager of the machine's organization or the "
                                     "operator of its collection task may record a "
                                     "collection."))
        data = CashCollectionInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            collection = cash.record_collection(
                machine=machine, amount=values["amount"], actor=request.user,
                collected_at=values.get("collectedAt"), notes=values.get("notes", ""),
                authorize=False)  # checked above, before the body: a 403 over a 400
        except cash.CollectionRejected as exc:
            return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
        return Response(cash.collection_document(collection), status=status.HTTP_201_CREATED)
