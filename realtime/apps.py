from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Realtime gateway"

    def ready(self) -> None:
        from . import metrics

        metrics.count_channel_layer_drops()
