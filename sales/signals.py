"""Keeps the narrower rollups equal to DailySales when rows change outside vend ingestion.
Receivers are one line: `sales.rollups` decides. Ingestion and the demo's bulk seed write
with SQL and bulk_create, which send no signals: they keep the narrower rollups themselves."""

from django.db.models.signals import post_save, pre_delete
from django.dispatch import receiver

from machines.models import Machine
from sales import rollups
from sales.models import DailySales


@receiver(post_save, sender=DailySales, dispatch_uid="sales-daily-sales-saved")
def daily_sales_saved(sender, instance: DailySales, **kwargs) -> None:
    rollups.rebuild_narrow_rollups_of(instance)


@receiver(pre_delete, sender=Machine, dispatch_uid="sales-machine-deleting")
def machine_deleting(sender, instance: Machine, **kwargs) -> None:
    rollups.forget_machine(instance.pk)
