"""Wire shapes of a visit action as the phone sends it: `{clientId, kind, payload}`, the
payload's shape depending on the kind. Errors name the field, payload fields under
`payload` (`{"payload": {"lines": [...]}}`)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework import serializers

from operations import rules_visits as rules

#: Far above any bunker (grams) or spiral (units), far below what a column holds.
MAX_QUANTITY = 1_000_000
#: 10^15 of the smallest unit, as for the cash API.
MAX_AMOUNT = 10**15
MAX_TEXT = 1000


class CheckInPayload(serializers.Serializer):
    lat = serializers.FloatField(min_value=-90, max_value=90, required=False, allow_null=True)
    lng = serializers.FloatField(min_value=-180, max_value=180, required=False,
                                 allow_null=True)


class FillLine(serializers.Serializer):
    lineId = serializers.UUIDField()
    filledQuantity = serializers.IntegerField(min_value=0, max_value=MAX_QUANTITY)


class FillPayload(serializers.Serializer):
    lines = FillLine(many=True, allow_empty=False, max_length=500)

    def validate_lines(self, lines: list[dict]) -> list[dict]:
        ids = [line["lineId"] for line in lines]
        if len(set(ids)) != len(ids):
            raise serializers.ValidationError(_("Each line may appear once."))
        # Stored as sent (VisitAction.payload, JSON): ids as strings.
        return [{"lineId": str(line["lineId"]), "filledQuantity": line["filledQuantity"]}
                for line in lines]


class CashPayload(serializers.Serializer):
    amount = serializers.IntegerField(min_value=0, max_value=MAX_AMOUNT)


class NotePayload(serializers.Serializer):
    text = serializers.CharField(max_length=MAX_TEXT, trim_whitespace=True)


class CheckOutPayload(serializers.Serializer):
    pass


class SkipPayload(serializers.Serializer):
    reason = serializers.CharField(max_length=MAX_TEXT, trim_whitespace=True)


PAYLOADS = {
    rules.CHECK_IN: CheckInPayload, rules.FILL: FillPayload, rules.CASH: CashPayload,
    rules.NOTE: NotePayload, rules.CHECK_OUT: CheckOutPayload, rules.SKIP: SkipPayload,
}


class VisitActionInSerializer(serializers.Serializer):
    clientId = serializers.UUIDField(help_text="The phone's own id of the action: a replay "
                                     "with the same id is applied once.")
    kind = serializers.ChoiceField(choices=rules.KINDS)
    payload = serializers.DictField(required=False, default=dict)

    def validate(self, attrs: dict) -> dict:
        shape = PAYLOADS[attrs["kind"]](data=attrs.get("payload") or {})
        if not shape.is_valid():
            raise serializers.ValidationError({"payload": shape.errors})
        attrs["payload"] = dict(shape.validated_data)
        return attrs
