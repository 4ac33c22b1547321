"""Two `watch_machines` processes sweeping side by side notify each manager of a machine that
stopped selling once: the machine row lock and the notifications' dedup key, not luck."""

from __future__ import annotations

import signal
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from machines.models import Machine
from notifications.models import Notification
from tests.sales.test_stopped_selling_check import sell
from tests.telemetry.test_watchdog_long_running import start_watchdog


def collect(process, out: list[str]) -> None:
    for line in process.stdout:
        out.append(line)


@pytest.mark.django_db(transaction=True)
def test_two_running_watchdogs_notify_a_stopped_machine_once(personas):
    now = timezone.now()
    sell(personas.machine, until=now - timedelta(hours=3, minutes=10))
    # Online for the whole test: the offline sweep must leave the machine to the sales check.
    Machine.objects.filter(pk=personas.machine.pk).update(last_seen_at=now + timedelta(hours=1))
    watchdogs = [start_watchdog() for _ in range(2)]
    notified = Notification.objects.filter(title_key="stopped_selling.title")
    lines: list[list[str]] = [[] for _ in watchdogs]
    readers = [threading.Thread(target=collect, args=(process, out), daemon=True)
               for process, out in zip(watchdogs, lines, strict=True)]
    said = f"stopped selling: {personas.machine.serial_number}"
    try:
        for reader in readers:
            reader.start()
        deadline = time.monotonic() + 30
        # Until the notifying process has also logged it (it logs after its commit and the
        # commit's event publishing: under load that can take a while after the row exists).
        while not (notified.exists() and any(said in line for out in lines for line in out)):
            assert time.monotonic() < deadline, f"no watchdog noticed the stopped machine: {lines}"
            time.sleep(0.1)
        time.sleep(1.5)  # several more sweeps of both: a duplicate would appear now
    finally:
        for process in watchdogs:
            process.send_signal(signal.SIGINT)
        for process in watchdogs:
            process.wait(timeout=30)
        for reader in readers:
            reader.join(timeout=10)
    outputs = ["".join(out) for out in lines]
    assert all("sweeping every 0.2s" in output for output in outputs), outputs
    assert [process.returncode for process in watchdogs] == [0, 0], outputs
    assert list(notified.values_list("recipient__username", flat=True)) == ["acme-manager"]
    assert sum(output.count(f"stopped selling: {personas.machine.serial_number}")
               for output in outputs) == 1, outputs
