from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "operations"
    verbose_name = "Field operations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers route:updated with the other event schemas.
        from operations import events  # noqa: F401
