"""Request bodies of the commands API (answers are `devices.events.CommandDocument`)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from devices.commands import DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS, MIN_TTL_SECONDS
from devices.models import CommandKind


class CommandInSerializer(serializers.Serializer):
    """`{kind, params, ttlSeconds?}`; what `params` must hold per kind is the service's
    check (`devices.commands.validate_command`), which names the field it refuses."""

    kind = serializers.ChoiceField(choices=CommandKind.choices)
    params = serializers.JSONField(required=False, default=dict,
                                   help_text=_("set_price: {selection, price}; the others: {}"))
    ttlSeconds = serializers.IntegerField(  # noqa: N815  (the API's camelCase)
        required=False, default=DEFAULT_TTL_SECONDS, min_value=MIN_TTL_SECONDS,
        max_value=MAX_TTL_SECONDS,
        help_text=_("Seconds the command stays valid: the device gets it only before then."))
