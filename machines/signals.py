"""Realtime broadcasts of fleet changes. Receivers are one line: realtime.events decides."""

from django.db.models.signals import post_init, post_save
from django.dispatch import receiver

from machines.models import Machine, Task
from realtime import events


@receiver(post_init, sender=Machine, dispatch_uid="realtime-machine-init")
def remember_machine_status(sender, instance: Machine, **kwargs) -> None:
    events.remember_machine_status(instance)


@receiver(post_save, sender=Machine, dispatch_uid="realtime-machine-saved")
def machine_saved(sender, instance: Machine, created: bool, update_fields=None, **kwargs) -> None:
    events.machine_saved(instance, created=created, update_fields=update_fields)


@receiver(post_init, sender=Task, dispatch_uid="realtime-task-init")
def remember_task_assignee(sender, instance: Task, **kwargs) -> None:
    events.remember_task_assignee(instance)


@receiver(post_save, sender=Task, dispatch_uid="realtime-task-saved")
def task_saved(sender, instance: Task, **kwargs) -> None:
    events.task_saved(instance)
