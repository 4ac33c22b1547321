"""Two `watch_machines` processes sweeping side by side notify each manager of a machine that
stopped selling once: the machine row lock and the notifications' dedup key, not luck."""

from __future__ import annotations

import signal
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from machines.models import Machine
from notifications.models import Notification
from tests.sales.test_stopped_selling_check import sell
from tests.telemetry.test_watchdog_long_running import start_watchdog


@pytest.mark.django_db(transaction=True)
def test_two_running_watchdogs_notify_a_stopped_machine_once(personas):
    now = timezone.now()
    sell(personas.machine, until=now - timedelta(hours=3, minutes=10))
    # Online for the whole test: the offline sweep must leave the machine to the sales check.
    Machine.objects.filter(pk=personas.machine.pk).update(last_seen_at=now + timedelta(hours=1))
    watchdogs = [start_watchdog() for _ in range(2)]
    notified = Notification.objects.filter(title_key="stopped_selling.title")
    try:
        for process in watchdogs:
            assert "sweeping every 0.2s" in process.stdout.readline()
        deadline = time.monotonic() + 30
        while not notified.exists():
            assert time.monotonic() < deadline, "no watchdog noticed the stopped machine"
            time.sleep(0.1)
        time.sleep(1.5)  # several more sweeps of both: a duplicate would appear now
    finally:
        for process in watchdogs:
            process.send_signal(signal.SIGINT)
        outputs = [process.communicate(timeout=30)[0] for process in watchdogs]
    assert [process.returncode for process in watchdogs] == [0, 0], outputs
    assert list(notified.values_list("recipient__username", flat=True)) == ["acme-manager"]
    assert sum(output.count(f"stopped selling: {personas.machine.serial_number}")
               for output in outputs) == 1, outputs
