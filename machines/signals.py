"""Realtime broadcasts of fleet changes. Receivers are one line: realtime.events decides."""

from django.conf import settings
from django.db.models.signals import post_delete, post_init, post_save
from django.dispatch import receiver

from machines.models import Machine, Membership, Task
from realtime import access, events


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


# -- who may see what: open sockets are re-authorized when it changes (realtime/access.py) --


@receiver(post_init, sender=Membership, dispatch_uid="realtime-membership-init")
def remember_membership(sender, instance: Membership, **kwargs) -> None:
    access.remember_membership(instance)


@receiver(post_save, sender=Membership, dispatch_uid="realtime-membership-saved")
def membership_saved(sender, instance: Membership, created: bool, **kwargs) -> None:
    access.membership_saved(instance, created=created)


@receiver(post_delete, sender=Membership, dispatch_uid="realtime-membership-deleted")
def membership_deleted(sender, instance: Membership, **kwargs) -> None:
    access.membership_deleted(instance)


@receiver(post_init, sender=settings.AUTH_USER_MODEL, dispatch_uid="realtime-user-init")
def remember_user_active(sender, instance, **kwargs) -> None:
    access.remember_user_active(instance)


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="realtime-user-saved")
def user_saved(sender, instance, created: bool, **kwargs) -> None:
    access.user_saved(instance, created=created)


@receiver(post_delete, sender=settings.AUTH_USER_MODEL, dispatch_uid="realtime-user-deleted")
def user_deleted(sender, instance, **kwargs) -> None:
    access.user_deleted(instance)
