"""REST endpoints of sales. Thin: querysets from selectors, writes through services."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import ListAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from machines.selectors import is_manager_anywhere, is_manager_of, machines_for
from sales import audits, ingest, selectors, services
from sales.models import AuditRecord, AuditSource
from sales.serializers import (
    PlanogramSerializer,
    ProductSerializer,
    field_paths,
    planogram_document,
)
from sales.vends import ForeignMachine, VendsRejected
from telemetry.views import DeviceIngestView, _datetime_param
from vendhub.parsers import PlainTextParser


class ManagersWrite(BasePermission):
    """Members read; writing needs a managing role (the organization is checked later)."""

    message = "Only managers may change products."

    def has_permission(self, request, view) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        return is_manager_anywhere(request.user)


class ProductViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                     viewsets.GenericViewSet):
    """Products of the user's organizations; managers create them."""

    serializer_class = ProductSerializer
    permission_classes = [IsAuthenticated, ManagersWrite]
    filterset_fields = ["organization", "category"]
    search_fields = ["name", "sku", "barcode", "category"]
    ordering_fields = ["name", "sku", "category", "unit_cost", "created_at"]
    ordering = ["name"]

    def get_queryset(self) -> QuerySet:
        return selectors.products_for(self.request.user)


class MachinePlanogramView(APIView):
    """`GET|PUT /api/v1/machines/{id}/planogram`."""

    @extend_schema(
        operation_id="machines_planogram_retrieve",
        summary="The planogram in force",
        description="The machine's planogram version in force now, or at `?at=`. 404: the "
                    "machine is not one of the user's organizations', or had no planogram "
                    "then. Prices are integers in the currency's smallest unit in use "
                    "(UZS: sums).",
        parameters=[OpenApiParameter("at", OpenApiTypes.DATETIME,
                                     description="ISO 8601 (UTC if no offset). Default: now.")],
        responses={200: PlanogramSerializer, 404: OpenApiResponse(description="Not found.")},
    )
    def get(self, request: Request, machine_id) -> Response:
        machine = get_object_or_404(machines_for(request.user), pk=machine_id)
        planogram = selectors.planogram_at(machine, _datetime_param(request, "at"))
        if planogram is None:
            return Response({"detail": "No planogram in force at that time."},
                            status=status.HTTP_404_NOT_FOUND)
        return Response(planogram_document(planogram))

    @extend_schema(
        operation_id="machines_planogram_update",
        summary="Replace the planogram (managers)",
        description="Creates a new planogram version effective now; earlier versions are "
                    "kept for reading old vends and audits. 400: `{path: [messages]}`, each "
                    "bad field named by its path as in `POST /api/v1/sales/` "
                    "(`selections[2].productId`, `selections[0].recipe[1].grams`; "
                    "`selections` itself for the list), nothing stored.",
        request=PlanogramSerializer,
        responses={201: PlanogramSerializer,
                   400: OpenApiResponse(OpenApiTypes.OBJECT, description="Field path -> "
                                        "messages.")},
    )
    def put(self, request: Request, machine_id) -> Response:
        machine = get_object_or_404(machines_for(request.user), pk=machine_id)
        if not is_manager_of(request.user, machine.organization_id):
            raise PermissionDenied("Only managers of the machine's organization may change "
                                   "its planogram.")
        data = PlanogramSerializer(data=request.data, context={"machine": machine})
        if not data.is_valid():
            return Response(field_paths(data.errors), status=status.HTTP_400_BAD_REQUEST)
        planogram = services.create_planogram_version(machine=machine, selections=data.specs(),
                                                      actor=request.user)
        planogram = selectors.planogram_at(machine, planogram.effective_from)
        return Response(planogram_document(planogram), status=status.HTTP_201_CREATED)


class VendIngestView(DeviceIngestView):
    """`POST /api/v1/sales/`: a machine posts one vend or a batch (device key)."""

    @extend_schema(
        operation_id="sales_ingest",
        summary="Post vends (devices)",
        description=(
            "A machine posts one vend `{machineId, transactionId, selection, price, "
            "paymentMethod, provider?, timestamp}` or a batch (a list of 1 to "
            "`TELEMETRY_MAX_BATCH`), authenticated with its device key: "
            "`Authorization: Device <key>`. `price` is an integer in the currency's smallest "
            "unit in use (UZS: sums); `paymentMethod` is cash, card or mobile (Payme, Click: "
            "mobile, named in `provider`).\n\n"
            "Idempotent per (machineId, transactionId): a retried vend is counted as a "
            "duplicate and fires nothing. The answer `{accepted, duplicates}` is sent after "
            "the transaction commits. 400: each bad field named by its path "
            "(`[3].paymentMethod`), nothing stored. 403: a vend for another machine. 401: "
            "missing or wrong key. 503: database unavailable, retry the same body."
        ),
        request=OpenApiTypes.OBJECT,
        responses={
            201: OpenApiResponse(OpenApiTypes.OBJECT, description="{machineId, received, "
                                 "accepted, duplicates}"),
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="Every vend was a retry."),
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="Field path -> messages."),
            401: OpenApiResponse(description="Missing, wrong or revoked device key."),
            403: OpenApiResponse(description="A vend for another machine."),
        },
    )
    def post(self, request: Request) -> Response:
        try:
            result = ingest.ingest_vends_document(machine=request.user.machine,
                                                  data=request.data)
        except ForeignMachine as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
        except VendsRejected as exc:
            return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
        code = status.HTTP_201_CREATED if result.accepted else status.HTTP_200_OK
        return Response(result.as_dict(), status=code)


class AuditIngestView(DeviceIngestView):
    """`POST /api/v1/audits/`: a machine posts its DEX/EVA-DTS audit as `text/plain`."""

    parser_classes = [PlainTextParser]

    @extend_schema(
        operation_id="audits_ingest",
        summary="Post a DEX/EVA-DTS audit (devices)",
        description=(
            "A machine posts one audit file (`text/plain`, at most 1 MB) with its device key: "
            "`Authorization: Device <key>`. The period's sales are the difference to the "
            "machine's previous audit (the first audit, or one from a replaced board, is a "
            "flagged baseline) and are reconciled with the vends posted between the two.\n\n"
            "The same file sent again answers 200 with the stored record. 400: an unreadable "
            "file (`line` and `segment` name where) or an `ID1` serial that is not the "
            "machine's; 403: the serial of another machine of the organization; 413: too big."
        ),
        request={"text/plain": OpenApiTypes.STR},
        responses={
            201: OpenApiResponse(OpenApiTypes.OBJECT, description="{id, machineId, periodFrom, "
                                 "periodTo, flags, totals, reconciliation, ...}"),
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="The same file, already "
                                 "stored."),
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="{detail, line, segment} "
                                 "or {detail, serial}"),
            401: OpenApiResponse(description="Missing, wrong or revoked device key."),
            403: OpenApiResponse(description="Another machine's audit."),
            413: OpenApiResponse(description="Larger than 1 MB."),
        },
    )
    def post(self, request: Request) -> Response:
        text = request.data
        if not isinstance(text, str) or not text.strip():
            return Response({"detail": _("Send the audit file as a text/plain body.")},
                            status=status.HTTP_400_BAD_REQUEST)
        return _import_answer(request.user.machine, text, AuditSource.DEVICE)


def _import_answer(machine, text: str, source: str) -> Response:
    """`sales.audits.import_audit` as the audit endpoints answer it: 201 new, 200 the same
    file again, the rejection's own body and status otherwise."""
    try:
        result = audits.import_audit(machine=machine, text=text, source=source,
                                     now=timezone.now())
    except audits.AuditRejected as exc:
        return Response(exc.detail, status=exc.status)
    code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
    return Response(audits.audit_document(result.record), status=code)


class MachineAuditListView(ListAPIView):
    """`GET /api/v1/machines/{id}/audits/`: a machine's audits, newest first (members);
    `POST`: a manager uploads one (a file field `file`, or the file as a `text/plain` body)."""

    filter_backends: list = []
    # The dashboard's file input posts multipart; scripts may post the file as text/plain.
    parser_classes = [MultiPartParser, PlainTextParser]

    def get_queryset(self) -> QuerySet:
        machine = get_object_or_404(machines_for(self.request.user), pk=self.kwargs["machine_id"])
        return (AuditRecord.objects.filter(machine=machine).select_related("previous")
                .defer("raw_text").order_by("-audited_at", "-uploaded_at"))

    @extend_schema(
        operation_id="machines_audits_list",
        summary="A machine's audits",
        description="Imported DEX/EVA-DTS audits of the machine, newest first, each with its "
                    "period, flags, totals and reconciliation with the vends. 404: not a "
                    "machine of the user's organizations.",
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT)},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([audits.audit_document(r) for r in page])

    @extend_schema(
        operation_id="machines_audits_upload",
        summary="Upload an audit (managers)",
        description="A manager of the machine's organization uploads a DEX/EVA-DTS audit file "
                    "read at the machine (a handheld readout): multipart with the file in "
                    "`file`, or the file as a `text/plain` body; at most 1 MB. Imported like a "
                    "device's (`POST /api/v1/audits/`), in its place among the machine's "
                    "audits by its readout time. 400: `file` missing or empty, an unreadable "
                    "file (`line` and `segment` name where) or another machine's serial; "
                    "403: not a manager of the machine's organization, or the serial of "
                    "another machine of it; 404: not a machine of the user's organizations.",
        request={"multipart/form-data": {"type": "object", "properties": {
                     "file": {"type": "string", "format": "binary"}}},
                 "text/plain": OpenApiTypes.STR},
        responses={
            201: OpenApiResponse(OpenApiTypes.OBJECT, description="The stored audit."),
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="The same file, already "
                                 "stored."),
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="{file}, {detail, line, "
                                 "segment} or {detail, serial}"),
            413: OpenApiResponse(description="Larger than 1 MB."),
        },
    )
    def post(self, request: Request, machine_id) -> Response:
        machine = get_object_or_404(machines_for(request.user).select_related("organization"),
                                    pk=machine_id)
        if not is_manager_of(request.user, machine.organization_id):
            raise PermissionDenied(_("Only managers of the machine's organization may upload "
                                     "its audits."))
        data = request.data
        if isinstance(data, str):
            text = data
        else:
            upload = data.get("file")
            # The file field through the text/plain parser: one decoding and one 1 MB limit.
            text = PlainTextParser().parse(upload) if hasattr(upload, "read") else ""
        if not text.strip():
            return Response({"file": [_("Choose a DEX/EVA-DTS audit file to upload.")]},
                            status=status.HTTP_400_BAD_REQUEST)
        return _import_answer(machine, text, AuditSource.ADMIN)
