"""`manage.py mqtt_commands`: publishes the commands to machines and receives their replies."""

from __future__ import annotations

import asyncio
import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from devices import publisher
from devices.broker import MqttAddress


class Command(BaseCommand):
    help = (
        "Publish queued commands to the machines over MQTT (QoS 1, with their expiry; "
        "delivered on the broker's PUBACK), close them with the devices' replies "
        "(vendhub/v1/{serial}/replies) and expire those nobody answered. Several may run: "
        "each command is claimed by one. Needs MQTT_URL."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", help="the broker (default: MQTT_URL)")
        parser.add_argument("--name", help="the MQTT client id (default: per host), whose "
                                           "session keeps replies while it reconnects")
        parser.add_argument("--poll", type=float, default=0.5,
                            help="seconds between looks for queued commands (default 0.5)")

    def handle(self, *args, url=None, name=None, poll=0.5, **options):
        url = url or getattr(settings, "MQTT_URL", "")
        if not url:
            raise CommandError("no broker: set MQTT_URL (mqtt://user:password@host:port)")
        try:
            broker = MqttAddress.parse(url)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        asyncio.run(self.serve(broker, name, poll))

    async def serve(self, broker: MqttAddress, name: str | None, poll: float) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        await publisher.run(broker, stop=stop, identifier=name, poll=poll,
                            on_connected=lambda: self.stdout.write(
                                f"commands: connected to {broker.host}:{broker.port}"))
