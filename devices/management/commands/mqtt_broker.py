"""`manage.py mqtt_broker`: run a Mosquitto with the project's configuration, for
development (`make broker`)."""

from __future__ import annotations

import signal
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from devices.broker import BrokerUnavailable, PrivateBroker


class Command(BaseCommand):
    help = (
        "Run Mosquitto with deploy/mosquitto/mosquitto.conf (no anonymous clients, persistent "
        "sessions, the dynamic-security plugin) in the foreground, its data (sessions, "
        "accounts, log) in --data-dir. Prints the MQTT_URL of the server's account: set it for "
        "`make run`, mqtt_ingest and mqtt_commands. Ctrl-C stops it (sessions are saved)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=1884,
                            help="1884 by default (1883 is often the machine's own broker)")
        parser.add_argument("--bind", default="127.0.0.1")
        parser.add_argument("--data-dir", type=Path,
                            default=Path(settings.BASE_DIR) / "var" / "mosquitto")
        parser.add_argument("--prepare-only", action="store_true",
                            help="write the configuration and the first security document, "
                                 "print the accounts' URLs and exit (for a broker run by a "
                                 "service manager: mosquitto -c DATA_DIR/mosquitto.conf)")

    def handle(self, *args, port: int, bind: str, data_dir: Path, prepare_only: bool,
               **options):
        broker = PrivateBroker(port=port, data_dir=data_dir.resolve(), host=bind)
        try:
            broker.prepare() if prepare_only else broker.start()
        except BrokerUnavailable as error:
            raise CommandError(str(error)) from error
        if prepare_only:
            self.stdout.write(f"configuration: {broker.config_path}\n"
                              f"MQTT_URL={broker.server_url}\n"
                              f"(the ingestion worker's own account: {broker.worker_url})")
            return
        self.stdout.write(f"Mosquitto on {bind}:{port}, data in {broker.data_dir}\n"
                          f"MQTT_URL={broker.server_url}\n"
                          f"(the ingestion worker may use its own account: {broker.worker_url})\n"
                          f"log: {broker.log_path}")
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            broker.process.wait()
        except KeyboardInterrupt:
            pass
        finally:
            broker.stop()


def _interrupt(signum, frame) -> None:
    # Stop the way Ctrl-C does: out of the wait, then broker.stop() (not from within the
    # handler, which interrupted a wait on the same process).
    raise KeyboardInterrupt
