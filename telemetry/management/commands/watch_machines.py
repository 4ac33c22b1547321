"""`manage.py watch_machines`: the offline watchdog as a long-running process."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections
from django.utils import timezone

from telemetry.conf import telemetry_settings
from telemetry.watchdog import check_silent_machines, silent_for


class Command(BaseCommand):
    help = (
        "Mark machines offline when silent for longer than their telemetry interval times "
        "--factor; emits machine:status and notifies managers once. Safe to run in several "
        "processes. Broadcasts reach other processes' clients only through Redis (REDIS_URL): "
        "with the in-memory channel layer run the sweep inside the server (run_demo does)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=10.0,
                            help="seconds between sweeps (default 10)")
        parser.add_argument("--factor", type=float, default=None,
                            help="silence factor (default WATCHDOG_SILENCE_FACTOR, "
                                 f"{telemetry_settings().silence_factor:g})")
        parser.add_argument("--once", action="store_true", help="one sweep, then exit")

    def handle(self, *args, interval: float, factor: float | None, once: bool, **options):
        factor = telemetry_settings().silence_factor if factor is None else factor
        self.stdout.write(f"watchdog: factor {factor:g}, " +
                          ("one sweep" if once else f"sweeping every {interval:g}s"))
        sweeps = 0
        try:
            while True:
                now = timezone.now()
                flipped = check_silent_machines(now=now, factor=factor)
                sweeps += 1
                for machine in flipped:
                    silent = silent_for(machine, now)
                    self.stdout.write(
                        f"{now:%H:%M:%S} offline: {machine.serial_number} ({machine.name}), "
                        + (f"silent for {int(silent.total_seconds())}s" if silent else "never seen")
                    )
                if options["verbosity"] >= 2 or (once and not flipped):
                    self.stdout.write(f"{now:%H:%M:%S} sweep {sweeps}: "
                                      f"{len(flipped)} machine(s) went offline")
                if once:
                    return
                time.sleep(interval)
                close_old_connections()  # honour CONN_MAX_AGE, drop broken connections
        except KeyboardInterrupt:
            self.stdout.write(f"watchdog stopped after {sweeps} sweeps")
