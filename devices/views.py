"""REST endpoints of the commands to a machine. Thin: `devices.commands` sends, the
machine comes from the user's organizations (another's: 404)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from devices import commands
from devices.events import command_document
from devices.models import MachineCommand
from devices.serializers import CommandInSerializer
from machines.models import Machine
from machines.selectors import machines_for


def _machine(request: Request, machine_id) -> Machine:
    return get_object_or_404(machines_for(request.user), pk=machine_id)


class MachineCommandsView(ListAPIView):
    """`GET|POST /api/v1/machines/{id}/commands/`."""

    filter_backends: list = []

    def get_queryset(self) -> QuerySet:
        machine = _machine(self.request, self.kwargs["machine_id"])
        return (MachineCommand.objects.filter(machine=machine).select_related("created_by")
                .order_by("-created_at"))

    @extend_schema(
        operation_id="machines_commands_list",
        summary="A machine's commands",
        description="Commands sent to the machine, newest first, with their state (queued, "
                    "delivered, acknowledged, failed, expired), the device's `result` and "
                    "`timestamps`. `machine:command` on `machine:{id}` carries each change "
                    "live. 404: not a machine of the user's organizations.",
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT)},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([command_document(c) for c in page])

    @extend_schema(
        operation_id="machines_commands_create",
        summary="Send a command to the machine",
        description="Managers of the machine's organization: `enter_maintenance` / "
                    "`leave_maintenance` (acknowledged: the status is held or released as "
                    "PATCH /machines/{id}/ does), `reboot`, `set_price` (`params`: "
                    "`{selection, price}`, a selection of the current planogram and a whole "
                    "price > 0), `request_audit` (the device posts its DEX audit). Stored "
                    "queued and published over MQTT (QoS 1, expiring after `ttlSeconds`, "
                    "default 300). 400 names the field; 403: operators and viewers; 404: "
                    "another organization's machine; 503: no MQTT broker configured.",
        request=CommandInSerializer,
        responses={201: OpenApiResponse(OpenApiTypes.OBJECT, description="the command")},
    )
    def post(self, request: Request, machine_id) -> Response:
        machine = _machine(request, machine_id)
        # Who may, then whether anyone can: a 403 or a 503 over a 400 for the body.
        if not commands.may_send(machine=machine, actor=request.user):
            raise PermissionDenied(commands.NOT_A_MANAGER)
        if not commands.mqtt_configured():
            return Response({"detail": str(commands.NO_BROKER)},
                            status=status.HTTP_503_SERVICE_UNAVAILABLE)
        data = CommandInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            command = commands.send_command(
                machine=machine, kind=values["kind"], params=values["params"],
                actor=request.user, ttl_seconds=values["ttlSeconds"])
        except commands.CommandInvalid as exc:
            return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
        return Response(command_document(command), status=status.HTTP_201_CREATED)
