"""`GET /api/v1/sales/report/`: the sales report as JSON (paginated rows) or CSV (every row).

Thin: the query is parsed here, the figures come from `sales.reports` (daily rollups).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from machines.models import Organization
from machines.selectors import managed_organization_ids_for, time_zone_for
from sales import reports
from sales.ingest import sales_day
from vendhub.pagination import DefaultPagination
from vendhub.spreadsheets import spreadsheet_cell

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class CSVRenderer(BaseRenderer):
    """`?format=csv` or `Accept: text/csv`: the view hands over the finished text."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, str) else ""


def _date_param(request: Request, name: str) -> date | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    try:
        if not _DATE.match(value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError({name: ["Expected a date as YYYY-MM-DD."]}) from None


def report_scope(request: Request) -> reports.ReportScope:
    """The scope `?organization=&from=&to=` asks for, or a ValidationError naming the bad
    parameter. Only organizations the user manages: sales figures are the managers'."""
    managed = managed_organization_ids_for(request.user)
    organizations = Organization.objects.filter(pk__in=managed)
    raw = request.query_params.get("organization")
    if raw:
        try:
            organizations = organizations.filter(pk=raw)
            chosen = list(organizations.values_list("pk", "time_zone"))
        except DjangoValidationError:
            raise ValidationError({"organization": ["Not a UUID."]}) from None
        if not chosen:
            raise ValidationError({"organization": ["Not an organization you manage."]})
        zone = chosen[0][1]
    else:
        chosen = list(organizations.values_list("pk", "time_zone"))
        # One organization: its today; several: the user's own zone (their first one).
        zone = chosen[0][1] if len(chosen) == 1 else time_zone_for(request.user)
    end = _date_param(request, "to") or sales_day(timezone.now(), zone)
    start = _date_param(request, "from")
    if start is None:
        try:
            start = end - timedelta(days=reports.DEFAULT_RANGE_DAYS - 1)
        except OverflowError:  # the first days of the calendar have no 29 days before them
            start = date.min
    if end < start:
        raise ValidationError({"to": ["Must be on or after from."]})
    if (end - start).days + 1 > reports.MAX_RANGE_DAYS:
        raise ValidationError({"from": [f"The range is too long: at most "
                                        f"{reports.MAX_RANGE_DAYS} days."]})
    return reports.ReportScope(organization_ids=tuple(pk for pk, _zone in chosen),
                               start=start, end=end)


def _group_by(request: Request) -> str:
    value = request.query_params.get("groupBy") or "day"
    if value not in reports.GROUP_BY:
        raise ValidationError({"groupBy": [f"Expected one of {', '.join(reports.GROUP_BY)}."]})
    return value


def _id(value) -> str | None:
    return str(value) if value is not None else None


def row_document(group_by: str, row: dict) -> dict:
    """One report row on the wire (camelCase, money as integers)."""
    figures = {"revenue": row["revenue"], "vends": row["vends"]}
    if group_by == "day":
        return {"day": row["day"].isoformat(), **figures}
    if group_by == "paymentMethod":
        return {"paymentMethod": row["payment_method"], **figures}
    if group_by == "product":
        return {"productId": _id(row["product_id"]), "productName": row["product_name"],
                "sku": row["sku"], **figures}
    return {"machineId": _id(row["machine_id"]), "machineName": row["machine_name"],
            "serialNumber": row["serial_number"],
            "organizationId": _id(row["organization_id"]), **figures}


#: CSV columns per grouping (the JSON keys of `row_document`).
CSV_COLUMNS = {
    "day": ["day"],
    "paymentMethod": ["paymentMethod"],
    "product": ["productId", "productName", "sku"],
    "machine": ["machineId", "machineName", "serialNumber", "organizationId"],
}


def report_csv(report: reports.Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    columns = [*CSV_COLUMNS[report.group_by], "revenue", "vends"]
    writer.writerow(columns)
    for row in report.rows:
        document = row_document(report.group_by, row)
        writer.writerow([spreadsheet_cell(document[column]) for column in columns])
    return out.getvalue()


class SalesReportView(APIView):
    """`GET /api/v1/sales/report/`: revenue and vends by day, machine, product or payment
    method over a range of local days (managers)."""

    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, CSVRenderer]

    @extend_schema(
        operation_id="sales_report",
        summary="Sales report (managers)",
        description=(
            "Revenue and vends of the organizations the user manages over `from`..`to` "
            "(dates, both included, in each organization's time zone, as the daily rollups "
            "count them), grouped by `groupBy`. Money is an integer in the currency's "
            "smallest unit in use (UZS: sums). Read from the daily rollups, never from raw "
            "vends.\n\n"
            "JSON: `{from, to, groupBy, totals: {revenue, vends}, topMachines, "
            "bottomMachines, count, next, previous, results}`; `results` paginated "
            "(`page`, `page_size`). `day` lists every day of the range (zeros included), "
            "`paymentMethod` every method, `machine` every machine (those without a sale "
            "last), `product` the products that sold (`productId` null: a selection the "
            "planogram did not name). The bottom machines include machines that sold "
            "nothing.\n\n"
            f"CSV (`?format=csv` or `Accept: text/csv`): every row, no pagination. Default "
            f"range: the last {reports.DEFAULT_RANGE_DAYS} days; at most "
            f"{reports.MAX_RANGE_DAYS} days. 400 names the bad parameter; 403: the user "
            "manages no organization (operators, viewers)."
        ),
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, description="YYYY-MM-DD. Default: "
                             f"to - {reports.DEFAULT_RANGE_DAYS - 1} days."),
            OpenApiParameter("to", OpenApiTypes.DATE, description="YYYY-MM-DD. Default: "
                             "today in the organization's time zone."),
            OpenApiParameter("groupBy", OpenApiTypes.STR, enum=list(reports.GROUP_BY),
                             description="Default: day."),
            OpenApiParameter("organization", OpenApiTypes.UUID,
                             description="One of the organizations you manage. Default: all."),
            OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "csv"]),
        ],
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT),
                   400: OpenApiResponse(OpenApiTypes.OBJECT, description="Parameter -> "
                                        "messages."),
                   403: OpenApiResponse(description="Not a manager.")},
    )
    def get(self, request: Request) -> Response:
        if not managed_organization_ids_for(request.user).exists():
            raise PermissionDenied("Only managers see sales reports.")
        group_by = _group_by(request)
        scope = report_scope(request)
        if request.accepted_renderer.format == "csv":
            report = reports.sales_report(scope, group_by, extremes=False)
            name = f"sales-{group_by}-{scope.start.isoformat()}-{scope.end.isoformat()}.csv"
            return Response(report_csv(report), headers={
                "Content-Disposition": f'attachment; filename="{name}"'})
        report = reports.sales_report(scope, group_by)
        paginator = DefaultPagination()
        page = paginator.paginate_queryset(report.rows, request, view=self)
        body = paginator.get_paginated_response(
            [row_document(group_by, row) for row in page]).data
        return Response({
            "from": scope.start.isoformat(), "to": scope.end.isoformat(), "groupBy": group_by,
            "totals": report.totals,
            "topMachines": [row_document("machine", row) for row in report.top],
            "bottomMachines": [row_document("machine", row) for row in report.bottom],
            **body,
        })

    def handle_exception(self, exc):
        # An error is answered as JSON even to a CSV request: a 400 naming the parameter
        # must stay readable, and the CSV renderer only writes finished report text.
        response = super().handle_exception(exc)
        if getattr(self.request, "accepted_renderer", None) is not None and \
                self.request.accepted_renderer.format == "csv":
            self.request.accepted_renderer = JSONRenderer()
            self.request.accepted_media_type = JSONRenderer.media_type
        return response
