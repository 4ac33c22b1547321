from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Realtime gateway"

    def ready(self) -> None:
        from .fanout import hub_from_settings
        from .server import metrics
        from .server.hub import set_hub_factory

        metrics.count_channel_layer_drops()
        # The generic hub knows no rooms: every hub of the process gets the product's.
        set_hub_factory(hub_from_settings)
