from django.apps import AppConfig


class TelemetryConfig(AppConfig):
    name = "telemetry"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from vendhub.partitioning import ensure_partitions_daily

        from . import (
            admin_devicekeys,  # noqa: F401  (registers the DeviceKey admin)
            partitions,  # noqa: F401  (registers the readings table's partitions)
        )
        from .watchdog import register_sweep_check

        # The watchdog's loop is the fleet's one periodic loop: it keeps every partitioned
        # table's days created ahead (once a day per process; a no-op on SQLite).
        register_sweep_check(ensure_partitions_daily)
