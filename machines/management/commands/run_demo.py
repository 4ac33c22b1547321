"""`make run`: the server, the offline watchdog and a simulated fleet, in one command."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.management.base import BaseCommand

from realtime.conf import realtime_config
from realtime.serve import serve

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Serve VendHub Realtime (REST, admin, dashboard, Socket.IO gateway) with the offline "
        "watchdog running in-process and a simulated fleet posting telemetry. Ctrl+C stops all."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--machines", type=int, default=0,
                            help="simulated machines (0: every machine; -1: no simulator)")
        parser.add_argument("--interval", type=float, default=5.0,
                            help="seconds between a simulated machine's readings")
        parser.add_argument("--watchdog-every", type=float, default=10.0,
                            help="seconds between offline-watchdog sweeps")

    def handle(self, *args, host, port, machines, interval, watchdog_every, **options):
        from vendhub.asgi import application

        url = f"http://{host}:{port}"
        simulator = None
        if machines >= 0:
            simulator = subprocess.Popen([
                sys.executable, "manage.py", "simulate_fleet", "--url", url,
                "--machines", str(machines), "--interval", str(interval), "--wait-for-server",
            ], cwd=settings.BASE_DIR)

        def on_ready() -> None:
            # The watchdog runs on the server's own loop, so its broadcasts reach clients
            # even with the in-memory channel layer (which cannot cross processes).
            asyncio.get_event_loop().create_task(_watchdog_loop(watchdog_every))
            self.stdout.write(self.style.SUCCESS(self.banner(url, machines)))

        try:
            serve(application, host=host, port=port, on_ready=on_ready,
                  max_message_size=realtime_config().max_payload)
        finally:
            if simulator is not None:
                simulator.terminate()
                simulator.wait(10)

    def banner(self, url: str, machines: int) -> str:
        layer = "Redis" if settings.REDIS_URL else "in-memory (single process)"
        return "\n".join([
            "",
            f"VendHub Realtime is running on {url}",
            f"  dashboard  {url}/    admin  {url}/admin/    API docs  {url}/api/v1/docs/",
            "  users      demo-admin / demo-manager / demo-operator, password: vendhub-demo",
            f"  fleet      {machines or 'all'} simulated machines posting telemetry; "
            f"channel layer: {layer}",
            "  Ctrl+C stops everything.",
            "",
        ])


async def _watchdog_loop(every: float) -> None:
    from telemetry.watchdog import check_silent_machines

    sweep = database_sync_to_async(check_silent_machines)
    while True:
        try:
            flipped = await sweep()
            if flipped:
                logger.info("watchdog: %d machine(s) went offline", len(flipped))
        except Exception:
            logger.exception("watchdog sweep failed")
        await asyncio.sleep(every)
