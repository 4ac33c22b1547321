"""`manage.py run_demo` (what `make run` starts) serves the product, runs the offline
watchdog and starts the fleet simulator: a newcomer sees a living fleet."""

from __future__ import annotations

import os
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from machines.models import Machine, MachineStatus
from notifications.models import Notification
from telemetry.models import TelemetryReading
from tests.factories import make_machine
from tests.live import LiveServer


def wait_until(condition, what: str, server: LiveServer, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen in {timeout:g}s:\n{server.log()}")
        time.sleep(0.3)


def children_of(pid: int) -> list[int]:
    """Direct child processes (Linux /proc), to clean up a simulator left behind."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text().split() if (task / "children").exists() else []
        found += [int(child) for child in children]
    return found


@pytest.fixture
def silent_machine(personas):
    """A machine of acme that was last heard from an hour ago and still claims online."""
    return make_machine(personas.acme, name="Silent", status=MachineStatus.ONLINE,
                        last_seen_at=timezone.now() - timedelta(hours=1))


@pytest.mark.django_db(transaction=True)
def test_run_demo_serves_simulates_the_fleet_and_watches_it(personas, silent_machine):
    # --machines 1: the simulator drives the first machine by serial number, acme's own;
    # the silent machine is left silent for the watchdog.
    assert Machine.objects.order_by("serial_number").first() == personas.machine
    server = LiveServer(argv=lambda port: [
        sys.executable, "manage.py", "run_demo", "--host", "127.0.0.1", "--port", str(port),
        "--machines", "1", "--interval", "0.5", "--watchdog-every", "0.5"])
    simulators: list[int] = []
    try:
        server.start(timeout=30)
        wait_until(lambda: TelemetryReading.objects.filter(machine=personas.machine).exists(),
                   "a simulated reading", server)
        simulators = children_of(server.process.pid)
        wait_until(lambda: Machine.objects.get(pk=silent_machine.pk).status
                   == MachineStatus.OFFLINE, "the watchdog's offline flip", server)
        wait_until(lambda: Notification.objects.filter(
            machine=silent_machine, recipient=personas.manager).exists(),
            "the manager's offline notification", server)
        assert "VendHub Realtime is running on" in server.log()
    finally:
        server.stop()
        for pid in simulators:  # run_demo stops its simulator; never leave one behind
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert Notification.objects.filter(machine=silent_machine).count() == 1
    assert Machine.objects.get(pk=personas.machine.pk).status != MachineStatus.OFFLINE
