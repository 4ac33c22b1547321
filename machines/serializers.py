"""JSON shapes of the fleet endpoints. Keys are camelCase: the dashboard consumes them as-is."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Min
from django.utils.translation import get_language
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from machines import selectors
from machines.models import (
    PERSON_SETTABLE_STATUSES,
    Bunker,
    Ingredient,
    Machine,
    MachineStatus,
    Priority,
    Task,
    TaskKind,
    TaskStatus,
)
from notifications import messages
from vendhub.fields import UTCDateTimeField
from vendhub.people import display_name

User = get_user_model()




class BunkerSerializer(serializers.ModelSerializer):
    ingredientId = serializers.UUIDField(source="ingredient_id", read_only=True)
    ingredientName = serializers.CharField(source="ingredient.name", read_only=True)
    capacityGrams = serializers.IntegerField(source="capacity_grams", read_only=True)
    currentLevelGrams = serializers.IntegerField(source="current_level_grams", read_only=True)
    lowLevelThresholdPercent = serializers.IntegerField(
        source="low_level_threshold_percent", read_only=True
    )
    percentage = serializers.FloatField(read_only=True)
    lowLevelAlert = serializers.BooleanField(source="low_level_alert", read_only=True)

    class Meta:
        model = Bunker
        fields = [
            "id",
            "ingredientId",
            "ingredientName",
            "capacityGrams",
            "currentLevelGrams",
            "lowLevelThresholdPercent",
            "percentage",
            "lowLevelAlert",
        ]


class MachineSerializer(serializers.ModelSerializer):
    serialNumber = serializers.CharField(source="serial_number", read_only=True)
    latitude = serializers.FloatField(read_only=True, allow_null=True)
    longitude = serializers.FloatField(read_only=True, allow_null=True)
    lastSeenAt = UTCDateTimeField(source="last_seen_at", read_only=True)
    organization = serializers.UUIDField(source="organization_id", read_only=True)
    organizationName = serializers.CharField(source="organization.name", read_only=True)
    responsibleOperator = serializers.IntegerField(
        source="responsible_operator_id", read_only=True, allow_null=True
    )
    responsibleOperatorName = serializers.SerializerMethodField()
    telemetryIntervalSeconds = serializers.IntegerField(
        source="telemetry_interval_seconds", read_only=True
    )
    statusSetBy = serializers.IntegerField(
        source="status_set_by_id", read_only=True, allow_null=True,
        help_text="Who holds the status a person set (maintenance); null while the device "
                  "readings and the offline watchdog decide it.",
    )
    statusSetByName = serializers.SerializerMethodField()
    statusSetAt = UTCDateTimeField(
        source="status_set_at", read_only=True, allow_null=True,
        help_text="Since when the status a person set holds.",
    )
    bunkers = BunkerSerializer(many=True, read_only=True)
    lowestBunkerPercent = serializers.SerializerMethodField()
    lowBunkers = serializers.SerializerMethodField()
    openErrors = serializers.SerializerMethodField()
    revenueToday = serializers.SerializerMethodField()
    lastSaleAt = UTCDateTimeField(
        source="last_sale_at", read_only=True, allow_null=True,
        help_text="The machine's latest vend (POST /api/v1/sales/); null before the first.",
    )
    runsOutAt = serializers.SerializerMethodField()
    createdAt = UTCDateTimeField(source="created_at", read_only=True)
    updatedAt = UTCDateTimeField(source="updated_at", read_only=True)

    class Meta:
        model = Machine
        fields = [
            "id",
            "name",
            "serialNumber",
            "model",
            "address",
            "latitude",
            "longitude",
            "status",
            "lastSeenAt",
            "organization",
            "organizationName",
            "responsibleOperator",
            "responsibleOperatorName",
            "telemetryIntervalSeconds",
            "statusSetBy",
            "statusSetByName",
            "statusSetAt",
            "bunkers",
            "lowestBunkerPercent",
            "lowBunkers",
            "openErrors",
            "revenueToday",
            "lastSaleAt",
            "runsOutAt",
            "createdAt",
            "updatedAt",
        ]
        read_only_fields = fields

    # The list annotates these in SQL (selectors.machine_list_for); a single machine (detail,
    # update) computes them from its prefetched bunkers and one count.
    @extend_schema_field(serializers.FloatField(
        allow_null=True, help_text="The emptiest bunker's fill level in percent; null without "
                                   "bunkers."))
    def get_lowestBunkerPercent(self, machine: Machine) -> float | None:
        if hasattr(machine, "lowest_bunker_percent"):
            value = machine.lowest_bunker_percent
            return None if value is None else round(value, 1)
        levels = [bunker.percentage for bunker in machine.bunkers.all()]
        return min(levels) if levels else None

    @extend_schema_field(serializers.IntegerField(
        help_text="How many bunkers are under their low-level threshold."))
    def get_lowBunkers(self, machine: Machine) -> int:
        if hasattr(machine, "low_bunkers"):
            return machine.low_bunkers
        return sum(1 for bunker in machine.bunkers.all() if bunker.low_level_alert)

    @extend_schema_field(serializers.IntegerField(help_text="Unresolved machine errors."))
    def get_openErrors(self, machine: Machine) -> int:
        if hasattr(machine, "open_errors"):
            return machine.open_errors
        return machine.errors.filter(resolved_at__isnull=True).count()

    @extend_schema_field(serializers.IntegerField(
        help_text="Revenue of today (the organization's time zone) from the daily sales "
                  "rollups; an integer in the currency's smallest unit in use (UZS: sums)."))
    def get_revenueToday(self, machine: Machine) -> int:
        if hasattr(machine, "revenue_today"):
            return machine.revenue_today
        from sales.selectors import machine_revenue_today  # sales depends on machines

        return machine_revenue_today(machine)

    @extend_schema_field(UTCDateTimeField(
        allow_null=True, help_text="When the first of its bunkers and slots runs out, as last "
                                   "forecast (GET /api/v1/machines/{id}/forecasts/); null: "
                                   "nothing runs out."))
    def get_runsOutAt(self, machine: Machine) -> str | None:
        if hasattr(machine, "runs_out_at"):
            value = machine.runs_out_at
        else:  # a single machine: one aggregate (forecasts are operations', built on this)
            value = machine.forecasts.aggregate(first=Min("runs_out_at"))["first"]
        return UTCDateTimeField().to_representation(value) if value else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_responsibleOperatorName(self, machine: Machine) -> str | None:
        return display_name(machine.responsible_operator)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_statusSetByName(self, machine: Machine) -> str | None:
        return display_name(machine.status_set_by)


class MachineStatusUpdateSerializer(serializers.Serializer):
    """`PATCH /machines/{id}/` input: `maintenance` holds the status until a person sets
    `online`, which hands it back to the device readings and the offline watchdog."""

    status = serializers.ChoiceField(choices=[
        (value, label) for value, label in MachineStatus.choices
        if value in PERSON_SETTABLE_STATUSES
    ])


class BunkerLevelSerializer(serializers.Serializer):
    bunkerId = serializers.UUIDField()
    ingredientId = serializers.UUIDField()
    ingredientName = serializers.CharField()
    currentLevel = serializers.IntegerField()
    maxLevel = serializers.IntegerField()
    percentage = serializers.FloatField()
    lowLevelAlert = serializers.BooleanField()


class MachineErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    severity = serializers.ChoiceField(choices=["warning", "error", "critical"])
    occurredAt = UTCDateTimeField()


class MachineTelemetrySerializer(serializers.Serializer):
    """`MachineTelemetry` (documentation only: built by telemetry.selectors.machine_telemetry)."""

    machineId = serializers.UUIDField()
    timestamp = UTCDateTimeField(allow_null=True)
    status = serializers.ChoiceField(choices=MachineStatus.choices)
    temperature = serializers.FloatField(allow_null=True)
    humidity = serializers.FloatField(allow_null=True)
    bunkers = BunkerLevelSerializer(many=True)
    errors = MachineErrorSerializer(many=True)
    lastSale = UTCDateTimeField(allow_null=True)
    uptime = serializers.IntegerField(help_text="Seconds.")


class IngredientSerializer(serializers.ModelSerializer):
    organization = serializers.UUIDField(source="organization_id", read_only=True)
    bunkerCount = serializers.IntegerField(source="bunker_count", read_only=True)
    createdAt = UTCDateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Ingredient
        fields = ["id", "name", "unit", "organization", "bunkerCount", "createdAt"]
        read_only_fields = fields


class OperatorSerializer(serializers.ModelSerializer):
    name = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "name"]
        read_only_fields = fields

    def get_name(self, user) -> str:
        return display_name(user) or ""


class TaskSerializer(serializers.ModelSerializer):
    """A task as read by the API. A title and notes the server wrote are in the active
    language (the request's: Accept-Language, the language cookie)."""

    machine = serializers.UUIDField(source="machine_id", read_only=True)
    title = serializers.SerializerMethodField()
    notes = serializers.SerializerMethodField()
    textLanguage = serializers.SerializerMethodField(
        help_text="The language title and notes are in when the server wrote them (a refill "
                  "task opened by a low reading), rendered for this reader; null when they "
                  "are a person's own text. A `task:updated` event in another language than "
                  "the page's is refetched over REST.")
    machineName = serializers.CharField(source="machine.name", read_only=True)
    assignee = serializers.IntegerField(source="assignee_id", read_only=True, allow_null=True)
    assigneeName = serializers.SerializerMethodField()
    dueAt = UTCDateTimeField(source="due_at", read_only=True)
    createdAt = UTCDateTimeField(source="created_at", read_only=True)
    updatedAt = UTCDateTimeField(source="updated_at", read_only=True)
    completedAt = UTCDateTimeField(source="completed_at", read_only=True)
    # Where to go and what to bring, for the operator's phone.
    machineAddress = serializers.CharField(source="machine.address", read_only=True)
    machineLat = serializers.FloatField(source="machine.latitude", read_only=True,
                                        allow_null=True)
    machineLng = serializers.FloatField(source="machine.longitude", read_only=True,
                                        allow_null=True)
    bunker = serializers.UUIDField(source="bunker_id", read_only=True, allow_null=True)
    ingredientName = serializers.CharField(source="bunker.ingredient.name", read_only=True,
                                           allow_null=True)
    refillGrams = serializers.SerializerMethodField(
        help_text="Refill tasks with a bunker: grams to fill it (capacity minus level).")

    class Meta:
        model = Task
        fields = [
            "id",
            "machine",
            "machineName",
            "assignee",
            "assigneeName",
            "kind",
            "status",
            "priority",
            "title",
            "notes",
            "dueAt",
            "createdAt",
            "updatedAt",
            "completedAt",
            "machineAddress",
            "machineLat",
            "machineLng",
            "bunker",
            "ingredientName",
            "refillGrams",
            "textLanguage",
        ]
        read_only_fields = fields

    def get_title(self, task: Task) -> str:
        return task.title_text()

    def get_notes(self, task: Task) -> str:
        return task.notes_text()

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_textLanguage(self, task: Task) -> str | None:
        return messages.language_of(get_language()) if task.server_written else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_assigneeName(self, task: Task) -> str | None:
        return display_name(task.assignee)

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_refillGrams(self, task: Task) -> int | None:
        if task.kind != TaskKind.REFILL or task.bunker is None:
            return None
        return max(0, task.bunker.capacity_grams - task.bunker.current_level_grams)


@extend_schema_field(OpenApiTypes.INT)
class _AssigneeField(serializers.PrimaryKeyRelatedField):
    """A user id among the operators the requesting user manages (or null)."""

    def get_queryset(self):
        return selectors.operators_managed_by(self.context["request"].user)


class TaskUpdateSerializer(serializers.Serializer):
    """`PATCH /tasks/{id}/` input. Any subset; who may change what is the service's rule."""

    status = serializers.ChoiceField(choices=TaskStatus.choices, required=False)
    assignee = _AssigneeField(required=False, allow_null=True)
    title = serializers.CharField(max_length=200, required=False)
    notes = serializers.CharField(required=False, allow_blank=True)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    dueAt = UTCDateTimeField(source="due_at", required=False, allow_null=True)

    def validate_assignee(self, assignee):
        task: Task = self.context["task"]
        if assignee is not None and not selectors.is_operator_of(assignee, task.organization_id):
            raise serializers.ValidationError("Not an operator of this task's organization.")
        return assignee


@extend_schema_field(OpenApiTypes.UUID)
class _MachineField(serializers.PrimaryKeyRelatedField):
    def get_queryset(self):
        return selectors.machines_for(self.context["request"].user)


class TaskCreateSerializer(serializers.Serializer):
    """`POST /tasks/` input (managers only)."""

    machine = _MachineField()
    kind = serializers.ChoiceField(choices=TaskKind.choices)
    title = serializers.CharField(max_length=200)
    assignee = _AssigneeField(required=False, allow_null=True)
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    priority = serializers.ChoiceField(
        choices=Priority.choices, required=False, default=Priority.MEDIUM
    )
    dueAt = UTCDateTimeField(source="due_at", required=False, allow_null=True)

    def validate(self, attrs):
        machine = attrs["machine"]
        assignee = attrs.get("assignee")
        if assignee is not None and not selectors.is_operator_of(assignee, machine.organization_id):
            raise serializers.ValidationError(
                {"assignee": "Not an operator of the machine's organization."}
            )
        return attrs
