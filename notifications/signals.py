"""Realtime delivery of notifications. The receiver is one line: realtime.events decides."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from notifications.models import Notification
from realtime import events


@receiver(post_save, sender=Notification, dispatch_uid="realtime-notification-saved")
def notification_saved(sender, instance: Notification, created: bool, **kwargs) -> None:
    events.notification_saved(instance, created=created)
