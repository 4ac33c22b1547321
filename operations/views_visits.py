"""REST endpoints of the visit on the operator's phone: their route of the day, the actions
at a machine, and the visit's photo. Thin: the decisions are `operations.visits`'."""

from __future__ import annotations

import mimetypes
from datetime import date, timedelta

from django.conf import settings
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from operations import visits
from operations.events import route_document
from operations.selectors import routes_of_operator, with_route_details
from operations.selectors_visits import visits_for
from operations.serializers_visits import VisitActionInSerializer
from sales.selectors import sales_day
from vendhub.fields import utc_iso8601

_FORBIDDEN = _("Only the route's operator or a manager of its organization may do this.")


def _visit(request: Request, visit_id):
    """A visit of the user's organizations (another's: 404)."""
    return get_object_or_404(visits_for(request.user), pk=visit_id)


class VisitActionsView(APIView):
    """`POST /api/v1/visits/{id}/actions/`."""

    @extend_schema(
        operation_id="visits_actions_create",
        summary="An operator's action at a visit",
        description="`{clientId, kind, payload}`, kinds: `check_in` {lat?, lng?}, `fill` "
                    "{lines: [{lineId, filledQuantity}]} (grams or units poured in; a new "
                    "record of a line replaces the earlier one), `cash` {amount}, `note` "
                    "{text}, `check_out`, `skip` {reason}. Applied once per `clientId`: a "
                    "replay answers 200 with `replayed: true` and changes nothing; a new "
                    "action answers 201. Both carry the route as `route:updated` does. 400 "
                    "names the field (`kind` for an action the visit's state does not allow: "
                    "a fill before the check-in, anything on a finished visit). 403: not the "
                    "route's operator nor a manager. 404: not a visit of the user's "
                    "organizations.",
        request=VisitActionInSerializer,
        responses={201: OpenApiResponse(OpenApiTypes.OBJECT, description="{clientId, kind, "
                                        "visitId, receivedAt, replayed, route}")},
    )
    def post(self, request: Request, visit_id) -> Response:
        visit = _visit(request, visit_id)
        data = VisitActionInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            outcome = visits.apply_visit_action(
                visit=visit, user=request.user, client_id=values["clientId"],
                kind=values["kind"], payload=values["payload"], now=timezone.now())
        except visits.VisitActionForbidden:
            raise PermissionDenied(_FORBIDDEN) from None
        except visits.VisitActionRejected as exc:
            raise ValidationError(exc.errors) from None
        action = outcome.action
        return Response({
            "clientId": str(action.client_id), "kind": action.kind,
            "visitId": str(action.visit_id), "receivedAt": utc_iso8601(action.received_at),
            "replayed": outcome.replayed, "route": route_document(outcome.route),
        }, status=status.HTTP_200_OK if outcome.replayed else status.HTTP_201_CREATED)


class MyRoutesView(APIView):
    """`GET /api/v1/routes/mine/?date=`."""

    @extend_schema(
        operation_id="routes_mine_list",
        summary="My routes of a day",
        description="The signed-in operator's routes on `date` (YYYY-MM-DD; default: today "
                    "in each organization's time zone), one per organization they belong "
                    "to, as `route:updated` carries them. 400 names `date`.",
        parameters=[OpenApiParameter("date", OpenApiTypes.DATE, required=False)],
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="[Route]")},
    )
    def get(self, request: Request) -> Response:
        routes = with_route_details(routes_of_operator(request.user)
                                    .select_related("organization").order_by("date"))
        raw = request.query_params.get("date")
        if raw:
            try:
                day = date.fromisoformat(raw)
            except ValueError:
                raise ValidationError({"date": [_("A date as YYYY-MM-DD.")]}) from None
            return Response([route_document(route) for route in routes.filter(date=day)])
        # Today is each organization's own date: near midnight two may differ.
        now = timezone.now()
        utc_day = now.date()
        candidates = routes.filter(date__range=(utc_day - timedelta(days=1),
                                                utc_day + timedelta(days=1)))
        return Response([route_document(route) for route in candidates
                         if route.date == sales_day(now, route.organization.time_zone)])


class VisitPhotoView(APIView):
    """`GET|POST /api/v1/visits/{id}/photo/`."""

    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="visits_photo_retrieve",
        summary="A visit's photo",
        description="The photo taken at the visit, for users of its organization only. 404: "
                    "no photo, or not a visit of the user's organizations.",
        responses={200: OpenApiResponse(OpenApiTypes.BINARY)},
    )
    def get(self, request: Request, visit_id):
        visit = _visit(request, visit_id)
        if not visit.photo:
            raise Http404("No photo")
        try:
            handle = visit.photo.open("rb")
        except FileNotFoundError:
            raise Http404("No photo") from None
        content_type = mimetypes.guess_type(visit.photo.name)[0] or "application/octet-stream"
        response = FileResponse(handle, content_type=content_type)
        response["Cache-Control"] = "private, max-age=3600"
        response["X-Content-Type-Options"] = "nosniff"
        return response

    @extend_schema(
        operation_id="visits_photo_create",
        summary="Send the visit's photo",
        description="Multipart, field `photo`: a JPEG, PNG or WebP image (recognised by its "
                    "bytes, not its name), at most VISIT_PHOTO_MAX_BYTES (5 MB; 413 beyond). "
                    "Stored under a name the server chooses; replaces an earlier photo. The "
                    "route's operator or a manager, once checked in. 400 names `photo`.",
        request={"multipart/form-data": OpenApiTypes.OBJECT},
        responses={201: OpenApiResponse(OpenApiTypes.OBJECT, description="{visitId, url}")},
    )
    def post(self, request: Request, visit_id) -> Response:
        visit = _visit(request, visit_id)
        if not visits.may_act_on(route=visit.route, user=request.user):
            raise PermissionDenied(_FORBIDDEN)
        # Before reading the body: a huge upload is refused from its declared length.
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        if declared > settings.VISIT_PHOTO_MAX_BYTES + 64 * 1024:
            return _too_large()
        upload = request.FILES.get("photo")
        if upload is None:
            raise ValidationError({"photo": [_("Attach the photo as the field \"photo\".")]})
        try:
            visit = visits.save_visit_photo(visit=visit, user=request.user, upload=upload)
        except visits.VisitActionForbidden:
            raise PermissionDenied(_FORBIDDEN) from None
        except visits.PhotoTooLarge:
            return _too_large()
        except visits.VisitActionRejected as exc:
            raise ValidationError(exc.errors) from None
        return Response({"visitId": str(visit.pk),
                         "url": request.build_absolute_uri(request.path)},
                        status=status.HTTP_201_CREATED)


def _too_large() -> Response:
    limit = settings.VISIT_PHOTO_MAX_BYTES
    return Response({"photo": [_("The photo is larger than %(mb).1f MB.") % {
        "mb": limit / (1024 * 1024)}]}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
