"""Serializer fields shared by every app's API."""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils import timezone
from rest_framework import serializers


def utc_iso8601(value: datetime) -> str:
    """`2026-03-01T04:00:00Z`: UTC, with `Z`, as every timestamp the API and events return."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class UTCDateTimeField(serializers.DateTimeField):
    """DRF's DateTimeField, answering in UTC with `Z` whatever the active time zone (DRF
    answers in it: `+05:00` under Asia/Tashkent). Input is parsed as DRF does: an offset is
    honoured, a naive time is in the server's TIME_ZONE."""

    def to_representation(self, value):
        if isinstance(value, datetime) and timezone.is_aware(value):
            return utc_iso8601(value)
        return super().to_representation(value)
