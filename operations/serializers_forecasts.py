"""JSON shapes of the forecast endpoints: the query of the fleet's list, and the documents
(for the OpenAPI schema: they are built by operations.selectors_forecasts)."""

from __future__ import annotations

from rest_framework import serializers

from operations.models import ForecastMethod
from vendhub.fields import UTCDateTimeField


class ForecastQuerySerializer(serializers.Serializer):
    """`GET /api/v1/forecasts/?runsOutBefore=&organization=&kind=`: a 400 names the field."""

    runsOutBefore = serializers.DateTimeField(
        required=False, help_text="ISO 8601 (UTC if no offset): only what runs out before.")
    organization = serializers.UUIDField(required=False)
    kind = serializers.ChoiceField(choices=["bunker", "slot"], required=False)


class ForecastSerializer(serializers.Serializer):
    """`ForecastDocument`: one bunker's (grams) or slot's (units) forecast."""

    machineId = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=["bunker", "slot"])
    bunkerId = serializers.UUIDField(allow_null=True)
    slotCode = serializers.CharField(allow_blank=True)
    name = serializers.CharField(allow_blank=True)
    unit = serializers.ChoiceField(choices=["g", "pcs"])
    level = serializers.IntegerField()
    ratePerHour = serializers.FloatField()
    runsOutAt = UTCDateTimeField(allow_null=True, help_text="null: no consumption, or not "
                                                            "within 30 days.")
    earliestAt = UTCDateTimeField(allow_null=True, help_text="The interval holding the "
                                                             "run-out 80 % of the time.")
    latestAt = UTCDateTimeField(allow_null=True, help_text="null: unbounded.")
    method = serializers.ChoiceField(choices=ForecastMethod.choices)
    samples = serializers.IntegerField(help_text="Observed hours the rate was learned from.")
    computedAt = UTCDateTimeField()


class MachineForecastsSerializer(serializers.Serializer):
    """The `machine:forecast` payload."""

    machineId = serializers.UUIDField()
    computedAt = UTCDateTimeField(allow_null=True)
    runsOutAt = UTCDateTimeField(allow_null=True, help_text="The earliest of `forecasts`.")
    forecasts = ForecastSerializer(many=True)
