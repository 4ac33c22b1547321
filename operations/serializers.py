"""Wire shapes of the routes endpoints: query parameters and the move request (camelCase).

Routes and visits are answered as `operations.events.RouteDocument`, the same document the
`route:updated` event carries, so a page renders both with one function.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from machines.filters import MAX_ID

DATE_FORMATS = ["%Y-%m-%d"]


class RouteQuerySerializer(serializers.Serializer):
    """`GET /api/v1/routes/?date=&organization=&operator=`: every parameter optional."""

    date = serializers.DateField(required=False, input_formats=DATE_FORMATS,
                                 help_text="YYYY-MM-DD: the routes of that day.")
    organization = serializers.UUIDField(required=False,
                                         help_text="One of your organizations.")
    operator = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID,
                                        help_text="The operator's user id.")


class VisitMoveSerializer(serializers.Serializer):
    """`POST /api/v1/visits/{id}/move/` `{operatorId?, date?}`: at least one of them."""

    operatorId = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID,
                                          help_text="The operator the visit goes to (an "
                                                    "operator of the visit's organization "
                                                    "with an operator profile).")
    date = serializers.DateField(required=False, input_formats=DATE_FORMATS,
                                 help_text="YYYY-MM-DD: the day the visit goes to.")

    def validate(self, attrs: dict) -> dict:
        if "operatorId" not in attrs and "date" not in attrs:
            raise serializers.ValidationError({"operatorId": [
                _("Give operatorId, date or both.")]})
        return attrs
