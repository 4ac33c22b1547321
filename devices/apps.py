from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "devices"
    verbose_name = "Devices over MQTT"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # events: registers machine:command with the other event schemas; receivers:
        # issuing or revoking a device key changes the machine's client on the broker.
        from devices import events, receivers  # noqa: F401
        from devices.commands import expire_commands
        from devices.credentials import retry_pending
        from telemetry.watchdog import register_sweep_check

        # Commands nobody answered in time expire with the fleet's periodic sweep too, so
        # they do even while no commands publisher runs.
        register_sweep_check(expire_commands)
        # Broker credential changes the broker missed (it was down) are retried with it.
        register_sweep_check(retry_pending)
