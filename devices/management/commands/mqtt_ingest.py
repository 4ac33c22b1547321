"""`manage.py mqtt_ingest`: the MQTT ingestion worker (devices/ingest_worker.py)."""

from __future__ import annotations

import logging
import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from devices.ingest_worker import Ingester, WorkerOptions
from devices.worker_health import HEARTBEAT_SECONDS


class Command(BaseCommand):
    help = (
        "Store the devices' telemetry, vends and audits published over MQTT "
        "(vendhub/v1/{serial}/telemetry, sales, audit) through the same validation and "
        "services as the HTTP endpoints, in batches, acknowledging each message to the "
        "broker after its commit and answering it on vendhub/v1/{serial}/ack. Several "
        "workers share the load (a shared subscription). Needs MQTT_URL."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", help="the broker (default: MQTT_URL)")
        parser.add_argument("--name", default="ingest",
                            help="the worker's name, unique per host (default: ingest); its "
                                 "persistent session is resumed by the next worker of this "
                                 "name on this host")
        parser.add_argument("--batch-size", type=int, default=500,
                            help="most messages stored in one transaction (default 500)")
        parser.add_argument("--batch-window", type=float, default=0.0,
                            help="seconds a batch waits for more messages after its first "
                                 "(default 0: it takes what has arrived)")
        parser.add_argument("--heartbeat", type=float, default=HEARTBEAT_SECONDS,
                            help=f"seconds between heartbeats (default {HEARTBEAT_SECONDS:g})")
        parser.add_argument("--session-expiry", type=int, default=3600,
                            help="seconds the broker keeps the worker's session while it is "
                                 "away (default 3600)")
        parser.add_argument("--retire", action="store_true",
                            help="on stop, leave the share group for good (store what is "
                                 "still arriving, then end the session); without it the "
                                 "broker keeps this worker's share for the next worker of "
                                 "the same name")
        # Tests only: holds each batch's transaction open, so a test can kill the worker
        # between receiving and committing.
        parser.add_argument("--pause-before-commit", type=float, default=0.0,
                            help="(tests) seconds to wait before each commit")

    def handle(self, *args, url=None, name="ingest", batch_size=500, batch_window=0.0,
               heartbeat=HEARTBEAT_SECONDS, session_expiry=3600, retire=False,
               pause_before_commit=0.0, **options):
        url = url or getattr(settings, "MQTT_URL", "")
        if not url:
            raise CommandError("no broker: set MQTT_URL (mqtt://user:password@host:port)")
        if batch_size < 1 or batch_window < 0 or heartbeat <= 0:
            raise CommandError("--batch-size must be 1 or more, --batch-window 0 or more and "
                               "--heartbeat more than 0")
        try:
            worker = Ingester(WorkerOptions(
                url=url, name=name, batch_size=batch_size, batch_window=batch_window,
                heartbeat=heartbeat, session_expiry=session_expiry, retire=retire,
                pause_before_commit=pause_before_commit))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: worker.stop())
        logging.getLogger("devices").setLevel(logging.INFO)
        self.stdout.write(f"mqtt_ingest {worker.id}: {worker.address.host}:"
                          f"{worker.address.port}")
        worker.run()
