"""The offline watchdog: silent machines go offline once, whatever the number of watchdogs."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from machines.models import Machine, MachineStatus
from notifications.models import Notification
from realtime.rooms import machine_room, map_room
from telemetry import watchdog
from telemetry.watchdog import check_silent_machines
from tests import live
from tests.conftest import require_postgresql


def silent(machine: Machine, seconds: float, **fields) -> Machine:
    Machine.objects.filter(pk=machine.pk).update(
        last_seen_at=timezone.now() - timedelta(seconds=seconds), **fields)
    return Machine.objects.get(pk=machine.pk)


def status_of(machine: Machine) -> str:
    return Machine.objects.values_list("status", flat=True).get(pk=machine.pk)


@pytest.mark.django_db
def test_a_silent_machine_goes_offline_and_managers_hear_it_once(personas, sent):
    silent(personas.machine, 300)
    silent(personas.rival_machine, 10)
    with sent.capture():
        flipped = check_silent_machines()
        again = check_silent_machines()
    assert [m.pk for m in flipped] == [personas.machine.pk] and again == []
    assert status_of(personas.machine) == MachineStatus.OFFLINE
    assert status_of(personas.rival_machine) == MachineStatus.ONLINE
    [notification] = Notification.objects.all()
    assert notification.recipient == personas.manager and "offline" in notification.title
    offline = sent.of("machine:status")
    assert sorted(sent.rooms("machine:status")) == sorted(
        [machine_room(personas.machine.pk), map_room(personas.acme.pk)])
    assert offline[0]["status"] == "offline" and offline[0]["machineId"] == str(
        personas.machine.pk)


@pytest.mark.django_db
def test_silence_is_measured_against_the_machines_own_interval(personas):
    silent(personas.machine, 300, telemetry_interval_seconds=600)
    assert check_silent_machines() == []
    assert check_silent_machines(factor=0.4) != []


@pytest.mark.django_db
def test_the_default_factor_gives_120_seconds_for_a_60_second_interval(personas):
    now = timezone.now()
    Machine.objects.filter(pk=personas.machine.pk).update(last_seen_at=now - timedelta(seconds=119))
    Machine.objects.filter(pk=personas.rival_machine.pk).update(
        last_seen_at=now - timedelta(seconds=121))
    assert [m.pk for m in check_silent_machines(now=now)] == [personas.rival_machine.pk]


@pytest.mark.django_db
@pytest.mark.parametrize("status", [MachineStatus.MAINTENANCE, MachineStatus.OFFLINE])
def test_machines_in_maintenance_or_already_offline_are_left_alone(personas, status):
    silent(personas.machine, 3600, status=status)
    assert check_silent_machines() == []
    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_a_machine_never_heard_from_counts_from_its_creation(personas):
    Machine.objects.filter(pk=personas.machine.pk).update(
        last_seen_at=None, created_at=timezone.now() - timedelta(hours=1))
    assert [m.pk for m in check_silent_machines()] == [personas.machine.pk]
    assert "Never" in Notification.objects.get().message


@pytest.mark.django_db
def test_a_reading_arriving_during_the_sweep_wins(personas):
    stale = silent(personas.machine, 300)
    Machine.objects.filter(pk=personas.machine.pk).update(last_seen_at=timezone.now())
    assert watchdog._flip_offline(stale, timezone.now()) is False
    assert status_of(personas.machine) == MachineStatus.ONLINE


@pytest.mark.django_db
def test_an_offline_machine_comes_back_online_with_its_next_reading(personas, device, sent):
    from tests.telemetry.conftest import reading_body

    silent(personas.machine, 300)
    check_silent_machines()
    with sent.capture():
        device.post("/api/v1/telemetry/", reading_body(personas.machine), format="json")
    assert status_of(personas.machine) == MachineStatus.ONLINE
    assert [p["status"] for p in sent.of("machine:status")] == ["online", "online"]


@pytest.mark.django_db
def test_watch_machines_once_reports_what_it_flipped(personas):
    silent(personas.machine, 300)
    out = io.StringIO()
    call_command("watch_machines", "--once", stdout=out)
    assert f"offline: {personas.machine.serial_number}" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sweeps_flip_and_notify_once(personas):
    require_postgresql("needs PostgreSQL's row locks (SQLite serializes every write anyway)")
    silent(personas.machine, 300)
    barrier = threading.Barrier(4)
    results: list[list] = []

    def sweep() -> None:
        try:
            barrier.wait()
            results.append(check_silent_machines())
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(len(flipped) for flipped in results) == [0, 0, 0, 1]
    assert Notification.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_watchdog_processes_mark_a_silent_machine_offline_exactly_once(personas):
    silent(personas.machine, 300)
    env = {"DATABASE_URL": live.test_database_url(), "DEBUG": "1", "PYTHONUNBUFFERED": "1"}
    import os

    processes = [
        subprocess.Popen([sys.executable, "manage.py", "watch_machines", "--once"], cwd=live.ROOT,
                         env={**os.environ, **env}, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=60)[0] for process in processes]
    assert all(process.returncode == 0 for process in processes), outputs
    flips = [output.count("offline: ") for output in outputs]
    assert sorted(flips) == [0, 1], outputs
    assert status_of(personas.machine) == MachineStatus.OFFLINE
    assert Notification.objects.count() == 1  # one manager, notified once
