"""`make run`: the server, the offline watchdog and a simulated fleet, in one command."""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.management.base import BaseCommand

from realtime.server.conf import realtime_config
from realtime.server.serve import serve

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Serve VendHub Realtime (REST, admin, dashboard, Socket.IO gateway) with the offline "
        "watchdog running in-process and a simulated fleet posting telemetry and sales. Ctrl+C "
        "stops all."
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
        mqtt = bool(settings.MQTT_URL)
        if machines >= 0:
            # A session of its own: Ctrl+C in the terminal reaches the server only, which
            # then stops the simulator first (below), so that no reading is cut off in
            # flight (the server would log the aborted request).
            simulator = subprocess.Popen([
                sys.executable, "manage.py", "simulate_fleet", "--url", url,
                "--machines", str(machines), "--interval", str(interval), "--wait-for-server",
                *(["--transport", "mqtt"] if mqtt else []),
            ], cwd=settings.BASE_DIR, start_new_session=True)

        ingest = None
        if settings.MQTT_URL:
            # Devices over MQTT: the ingestion worker beside the server, stopped with it.
            ingest = subprocess.Popen([sys.executable, "manage.py", "mqtt_ingest",
                                       "--name", "demo"], cwd=settings.BASE_DIR,
                                      start_new_session=True)

        def on_ready() -> None:
            # The watchdog runs on the server's own loop, so its broadcasts reach clients
            # even with the in-memory channel layer (which cannot cross processes).
            asyncio.get_event_loop().create_task(_watchdog_loop(watchdog_every))
            if mqtt:
                # The commands publisher (`manage.py mqtt_commands`) on the same loop, for
                # the same reason: its machine:command events reach the monitor pages.
                asyncio.get_event_loop().create_task(_commands_loop())
            if simulator is not None:
                _stop_simulator_first(simulator)
            self.stdout.write(self.style.SUCCESS(self.banner(url, machines)))

        try:
            serve(application, host=host, port=port, on_ready=on_ready,
                  max_message_size=realtime_config().max_payload)
        finally:
            for child in (simulator, ingest):
                if child is not None and child.poll() is None:
                    child.terminate()
                    child.wait(10)

    def banner(self, url: str, machines: int) -> str:
        layer = "Redis" if settings.REDIS_URL else "in-memory (single process)"
        return "\n".join([
            "",
            f"VendHub Realtime is running on {url}",
            f"  dashboard  {url}/    admin  {url}/admin/    API docs  {url}/api/v1/docs/",
            "  users      demo-admin / demo-manager / demo-operator, password: vendhub-demo",
            f"  fleet      {machines or 'all'} simulated machines posting telemetry and sales; "
            f"channel layer: {layer}",
            "  devices    " + ("over MQTT (MQTT_URL); commands to machines on the monitor"
                               if settings.MQTT_URL else "over HTTP (no MQTT_URL: no commands)"),
            "  Ctrl+C stops everything.",
            "",
        ])


def _stop_simulator_first(simulator: subprocess.Popen) -> None:
    """On Ctrl+C (or SIGTERM) the simulator finishes the requests it has in flight and exits
    while the server still answers them; then the server stops. Daphne's own handler would
    stop the server at once and cancel those requests (a `RequestAborted` traceback).
    A second Ctrl+C stops at once."""
    from twisted.internet import reactor

    stopping = False

    def stop_server(_result=None) -> None:
        if reactor.running:
            reactor.stop()

    def begin() -> None:
        nonlocal stopping
        if stopping:
            stop_server()
            return
        stopping = True
        asyncio.ensure_future(_stop(simulator)).add_done_callback(stop_server)

    def on_signal(signum, frame) -> None:
        reactor.callFromThread(begin)  # signal-safe: runs on the reactor's loop

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)


async def _stop(simulator: subprocess.Popen, *, grace: float = 10.0) -> None:
    """Ask the simulator to stop (SIGTERM: it lets its requests in flight finish) and wait
    for it without blocking the server's loop, which is still answering those requests."""
    simulator.terminate()
    deadline = asyncio.get_running_loop().time() + grace
    while simulator.poll() is None and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    if simulator.poll() is None:
        simulator.kill()


async def _commands_loop() -> None:
    from devices import publisher
    from devices.broker import MqttAddress

    try:
        await publisher.run(MqttAddress.parse(settings.MQTT_URL), stop=asyncio.Event())
    except Exception:
        logger.exception("commands publisher stopped")


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
