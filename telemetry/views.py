"""Telemetry endpoints: device ingestion and the downsampled history of a machine."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from django.db import InterfaceError, OperationalError
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from machines.selectors import machines_for
from telemetry import history, metrics, services
from telemetry.authentication import DeviceKeyAuthentication, IsDevice
from telemetry.conf import telemetry_settings
from telemetry.serializers import (
    ForeignMachine,
    HistorySerializer,
    IngestResultSerializer,
    TelemetryReadingInSerializer,
    TelemetryRejected,
)
from vendhub.parsers import JSONParser

logger = logging.getLogger(__name__)

_BATCH_LIMIT = telemetry_settings().max_batch
#: Seconds a device should wait before retrying when the database is unavailable.
DATABASE_RETRY_AFTER_SECONDS = 5

_READING_OR_BATCH = PolymorphicProxySerializer(
    component_name="TelemetryReadingOrBatch",
    serializers=[TelemetryReadingInSerializer, TelemetryReadingInSerializer(many=True)],
    resource_type_field_name=None,
    many=False,
)


class DeviceIngestView(APIView):
    """What the device endpoints share (telemetry, sales.views vends): device-key auth,
    JSON only, no throttle, a database outage answered 503 with Retry-After."""

    authentication_classes = [DeviceKeyAuthentication]
    permission_classes = [IsDevice]
    # JSON only, through the API's parser: a body nested too deeply is a 400, not a 500.
    parser_classes = [JSONParser]
    throttle_classes: list = []

    def handle_exception(self, exc: Exception) -> Response:
        # The database is down or unreachable (also while authenticating the key): the
        # transaction rolled back, nothing is stored; tell the device when to retry.
        if isinstance(exc, OperationalError | InterfaceError):
            logger.warning("%s: database unavailable (%s), answering 503",
                           type(self).__name__, exc)
            return Response(
                {"detail": "The database is temporarily unavailable; nothing was stored. "
                           "Retry the same body later.",
                 "code": "database_unavailable"},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
            )
        return super().handle_exception(exc)


class TelemetryIngestView(DeviceIngestView):
    """`POST /api/v1/telemetry/`: a machine posts one reading or a batch."""

    @extend_schema(
        operation_id="telemetry_ingest",
        summary="Post telemetry (devices)",
        description=(
            "A machine posts one `MachineTelemetry` reading (an object) or a batch (an array of "
            f"1 to {_BATCH_LIMIT} readings, `TELEMETRY_MAX_BATCH`), authenticated with its device "
            "key: `Authorization: Device <key>`.\n\n"
            "Idempotent per (machineId, timestamp): a retried reading is reported as a "
            "duplicate, not stored again, and fires no rule twice. The response is sent after "
            "the transaction commits, so a 2xx means stored; after a 5xx or a timeout, retry "
            "the same body.\n\n"
            "400: each bad field is named by its path (`humidity`, `[3].bunkers[0].bunkerId`), "
            "nothing of the request is stored. 403: a reading names another machine than the "
            "key's. 401: missing, wrong or revoked key. 503: the database is unavailable; "
            "nothing was stored, retry the same body after `Retry-After` seconds."
        ),
        request=_READING_OR_BATCH,
        responses={
            201: IngestResultSerializer,
            200: OpenApiResponse(IngestResultSerializer, description="Every reading was a retry."),
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="Field path -> messages."),
            401: OpenApiResponse(description="Missing, wrong or revoked device key."),
            403: OpenApiResponse(description="A reading for another machine."),
            503: OpenApiResponse(OpenApiTypes.OBJECT,
                                 description="Database unavailable: retry after Retry-After."),
        },
        extensions={"x-batch-limit": _BATCH_LIMIT},
    )
    def post(self, request: Request) -> Response:
        started = time.perf_counter()
        try:
            result = services.ingest_telemetry_document(machine=request.user.machine,
                                                        data=request.data)
        except ForeignMachine as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
        except TelemetryRejected as exc:
            return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
        metrics.ingest_seconds.observe(time.perf_counter() - started)
        metrics.readings_ingested.inc(result.accepted)
        code = status.HTTP_201_CREATED if result.accepted else status.HTTP_200_OK
        return Response(result.as_dict(), status=code)


def _datetime_param(request: Request, name: str) -> datetime | None:
    value = request.query_params.get(name)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace(" ", "+"))
    except ValueError:
        raise ValidationError({name: ["Not an ISO 8601 date-time."]}) from None
    try:
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except OverflowError:
        # 9999-12-31T23:59:59-14:00 is after year 9999 in UTC: no datetime holds it.
        raise ValidationError(
            {name: ["Out of the range of dates (years 1 to 9999 in UTC)."]}) from None


def _day_before(end: datetime) -> datetime:
    """The default `from`; the first day of the calendar has no day before it (then `to`
    is refused as not after `from`)."""
    try:
        return end - timedelta(hours=24)
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


class MachineTelemetryHistoryView(APIView):
    """`GET /api/v1/machines/{id}/telemetry/history`: downsampled readings of one machine."""

    @extend_schema(
        operation_id="machines_telemetry_history",
        summary="Telemetry history, downsampled",
        description=(
            "Readings with from <= timestamp < to, grouped in buckets aligned to the Unix "
            "epoch: count and min/avg/max of temperature, humidity and each bunker's level "
            "(grams). Empty buckets are omitted. Default range: the last 24 hours; default "
            f"bucket: the smallest of 1m, 5m, 15m, ... giving at most {history.TARGET_POINTS} "
            f"buckets; at most {history.MAX_POINTS} buckets, each at most "
            f"{history.MAX_BUCKET // 86400} days wide. Machines of other organizations are 404."
        ),
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATETIME,
                             description="ISO 8601 (UTC if no offset). Default: to - 24 h."),
            OpenApiParameter("to", OpenApiTypes.DATETIME,
                             description="ISO 8601 (UTC if no offset). Default: now."),
            OpenApiParameter("bucket", OpenApiTypes.STR,
                             description="Seconds, or 30s, 5m, 1h, 1d; from 10 s to 30 d. "
                                         "Default: automatic."),
        ],
        responses=HistorySerializer,
    )
    def get(self, request: Request, machine_id) -> Response:
        machine = get_object_or_404(machines_for(request.user), pk=machine_id)
        end = _datetime_param(request, "to") or timezone.now()
        start = _datetime_param(request, "from") or _day_before(end)
        raw_bucket = request.query_params.get("bucket")
        try:
            bucket = history.parse_bucket(raw_bucket) if raw_bucket else history.auto_bucket(
                start, end)
        except ValueError as exc:
            raise ValidationError({"bucket": [str(exc)]}) from None
        try:
            history.check_range(start, end, bucket)
        except ValueError as exc:
            name, _, message = str(exc).partition(": ")
            raise ValidationError({name: [message]}) from None
        try:
            body = history.telemetry_history(machine=machine, start=start, end=end,
                                             bucket=bucket, bunkers=machine.bunkers.all())
        except history.HistoryUnsupported as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_501_NOT_IMPLEMENTED)
        return Response(body)
