from django.apps import AppConfig


class SalesConfig(AppConfig):
    name = "sales"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from sales import (
            partitions,  # noqa: F401  (registers the vends table's partitions)
            signals,  # noqa: F401  (keeps the narrower rollups with DailySales)
        )
        from sales.stopped_selling import check_stopped_selling
        from telemetry.watchdog import register_sweep_check

        register_sweep_check(check_stopped_selling)
