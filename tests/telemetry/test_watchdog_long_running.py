"""`manage.py watch_machines` as the long-running process it is meant to be: two of them
sweeping side by side flip a machine that falls silent exactly once, keep sweeping, and stop
cleanly on Ctrl+C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from machines.models import Machine, MachineStatus
from notifications.models import Notification
from tests import live


def start_watchdog() -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": live.test_database_url(), "DEBUG": "1",
           "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "manage.py", "watch_machines", "--interval", "0.2"],
                            cwd=live.ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def status_of(machine: Machine) -> str:
    return Machine.objects.values_list("status", flat=True).get(pk=machine.pk)


@pytest.mark.django_db(transaction=True)
def test_two_running_watchdogs_flip_a_machine_that_falls_silent_once(personas):
    watchdogs = [start_watchdog() for _ in range(2)]
    try:
        for process in watchdogs:  # both are sweeping before the machine falls silent
            assert "sweeping every 0.2s" in process.stdout.readline()
        Machine.objects.filter(pk=personas.machine.pk).update(
            last_seen_at=timezone.now() - timedelta(minutes=5))
        deadline = time.monotonic() + 30
        while status_of(personas.machine) != MachineStatus.OFFLINE:
            assert time.monotonic() < deadline, "no watchdog flipped the silent machine"
            time.sleep(0.1)
        time.sleep(1.5)  # several more sweeps of both: a second flip would happen now
    finally:
        for process in watchdogs:
            process.send_signal(signal.SIGINT)
        outputs = [process.communicate(timeout=30)[0] for process in watchdogs]
    assert [process.returncode for process in watchdogs] == [0, 0], outputs
    assert sum(output.count(f"offline: {personas.machine.serial_number}")
               for output in outputs) == 1, outputs
    assert all("watchdog stopped after" in output for output in outputs), outputs
    assert Notification.objects.filter(machine=personas.machine).count() == 1
