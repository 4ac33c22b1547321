"""`POST /api/v1/routes/plan/`: a manager's "Plan the day" button. Thin: the plan itself is
`operations.planning.plan_organization_day` (which emits `route:updated` per route)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from machines.models import Organization
from machines.selectors import is_manager_of, managed_organization_ids_for, organization_ids_for
from operations.events import route_document


class PlanRequestSerializer(serializers.Serializer):
    date = serializers.DateField(input_formats=["%Y-%m-%d"],
                                 help_text="YYYY-MM-DD: the day to plan, today or later.")
    organization = serializers.UUIDField(
        required=False, help_text=gettext_lazy("One of the organizations you manage; "
                                               "needed when you manage several."))


def unassigned_document(item) -> dict:
    return {"machineId": str(item.machine.pk), "machineName": item.machine.name,
            "reasons": list(item.reasons), "why": item.why}


def plan_document(plan) -> dict:
    """The answer of a plan: the day's routes, and the machines left out with why."""
    return {
        "date": plan.date.isoformat(), "organizationId": str(plan.organization.pk),
        "routes": [route_document(route) for route in plan.routes],
        "unassigned": [unassigned_document(item) for item in plan.unassigned],
        "unroutable": [{"machineId": str(machine.pk), "machineName": machine.name}
                       for machine in plan.unroutable],
    }


class PlanDayView(APIView):
    @extend_schema(
        operation_id="routes_plan",
        summary="Plan the day (managers)",
        description="Plans (or re-plans) the organization's routes of `date`: the machines "
                    "that need a visit, assigned to its operators with an active operator "
                    "profile and ordered by the solver, each visit with its pick list; "
                    "visits done or under way stay, pinned visits stay on their route. "
                    "Answers `{date, organizationId, routes: [RouteDocument], unassigned: "
                    "[{machineId, machineName, reasons, why}], unroutable: [{machineId, "
                    "machineName}]}` (`why`: capacity, time, no_operator, no_depot; "
                    "unroutable machines have no coordinates). Each route written is sent "
                    "as `route:updated`. 400 names the field (`date`: missing, malformed "
                    "or passed; `organization`: needed when you manage several). 403: not "
                    "a manager of the organization. 404: not your organization.",
        request=PlanRequestSerializer,
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT)},
    )
    def post(self, request: Request) -> Response:
        data = PlanRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        organization = self._organization(request, values.get("organization"))
        from operations import planning  # the planner pulls in the solver: load it on use

        if values["date"] < planning.local_today(organization):
            raise serializers.ValidationError({"date": [_("A day that has passed cannot be "
                                                          "planned.")]})
        plan = planning.plan_organization_day(organization=organization, date=values["date"])
        return Response(plan_document(plan))

    @staticmethod
    def _organization(request: Request, organization_id) -> Organization:
        user = request.user
        if organization_id is None:
            managed = list(Organization.objects.filter(
                id__in=managed_organization_ids_for(user))[:2])
            if not managed:
                raise PermissionDenied(_("Only a manager may plan routes."))
            if len(managed) > 1:
                raise serializers.ValidationError({"organization": [_(
                    "You manage several organizations: name the one to plan.")]})
            return managed[0]
        organization = Organization.objects.filter(
            id=organization_id, id__in=organization_ids_for(user)).first()
        if organization is None:
            raise NotFound()
        if not is_manager_of(user, organization.pk):
            raise PermissionDenied(_("Only a manager of the organization may plan its "
                                     "routes."))
        return organization
