"""JSON shape of a notification, as the notification centre consumes it (camelCase)."""

from __future__ import annotations

from rest_framework import serializers

from notifications.models import Notification
from vendhub.fields import UTCDateTimeField


class NotificationSerializer(serializers.ModelSerializer):
    """Title and message in the active language (the request's: Accept-Language, the
    language cookie; the recipient's for socket events)."""

    title = serializers.SerializerMethodField()
    message = serializers.SerializerMethodField()
    createdAt = UTCDateTimeField(source="created_at", read_only=True)
    machineId = serializers.UUIDField(source="machine_id", read_only=True, allow_null=True)

    class Meta:
        model = Notification
        fields = ["id", "title", "message", "type", "priority", "read", "createdAt", "machineId"]
        read_only_fields = fields

    def get_title(self, notification: Notification) -> str:
        return notification.title_text()

    def get_message(self, notification: Notification) -> str:
        return notification.message_text()


class UnreadCountSerializer(serializers.Serializer):
    count = serializers.IntegerField()


class UpdatedCountSerializer(serializers.Serializer):
    updated = serializers.IntegerField()
