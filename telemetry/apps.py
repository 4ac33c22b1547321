from django.apps import AppConfig


class TelemetryConfig(AppConfig):
    name = "telemetry"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import admin_devicekeys  # noqa: F401  (registers the DeviceKey admin)
