"""The fleet simulator: a plausible machine model, and the command against a live server."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from machines.models import Bunker, Task, TaskKind, TaskStatus
from telemetry.models import TelemetryReading
from telemetry.serializers import parse_telemetry
from telemetry.simulator import Behaviour, SimulatedBunker, SimulatedMachine
from tests import live

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
B1, B2 = "00000000-0000-0000-0000-0000000000b1", "00000000-0000-0000-0000-0000000000b2"
QUIET = Behaviour(error_rate=0, offline_rate=0, heat_rate=0, humid_rate=0)


def machine(behaviour: Behaviour = QUIET, seed: int = 1) -> SimulatedMachine:
    return SimulatedMachine(
        machine_id="00000000-0000-0000-0000-000000000001", serial_number="SIM-1",
        bunkers=[SimulatedBunker(B1, 1000, 1000, 10), SimulatedBunker(B2, 2000, 2000, 15)],
        rng=random.Random(seed), behaviour=behaviour)


def run(sim: SimulatedMachine, minutes: int, step: int = 5) -> list[dict]:
    readings = []
    for tick in range(1, minutes * 60 // step + 1):
        readings += sim.step(T0 + timedelta(seconds=tick * step), step)
    return readings


def test_bunkers_deplete_with_sales():
    sim = machine()
    readings = run(sim, 60)
    assert len(readings) == 720
    levels = [r["bunkers"][0]["currentLevel"] for r in readings]
    assert levels == sorted(levels, reverse=True) and levels[-1] < 900
    assert readings[-1]["lastSale"] is not None


def test_a_refill_fills_the_bunker_back_up():
    sim = machine()
    run(sim, 30)
    assert sim.refill(B1)
    [reading] = sim.step(T0 + timedelta(hours=1), 0.001)
    assert reading["bunkers"][0]["currentLevel"] == 1000


def test_temperature_drifts_but_stays_plausible():
    readings = run(machine(), 60)
    temperatures = [r["temperature"] for r in readings]
    assert len(set(temperatures)) > 10
    assert all(10 < t < 30 for t in temperatures)


def test_hot_spells_happen_and_end():
    readings = run(machine(Behaviour(error_rate=0, offline_rate=0, heat_rate=0.2), seed=3), 120)
    temperatures = [r["temperature"] for r in readings]
    assert max(temperatures) > 30 and temperatures[-1] < 30 or min(temperatures[-50:]) < 30


def test_errors_come_and_go_and_break_the_machine():
    readings = run(machine(Behaviour(error_rate=0.5, offline_rate=0), seed=2), 60)
    assert any(r["errors"] for r in readings) and any(not r["errors"] for r in readings)
    assert any(r["status"] == "error" for r in readings)


def test_offline_machines_go_silent_and_upload_a_backlog_or_reboot():
    sim = machine(Behaviour(error_rate=0, offline_rate=1.0), seed=5)
    posts = []
    for tick in range(1, 2000):
        posts.append(sim.step(T0 + timedelta(seconds=tick * 5), 5))
    assert any(not batch for batch in posts)  # silence
    assert any(len(batch) > 1 for batch in posts)  # a backlog uploaded as a batch
    uptimes = [r["uptime"] for batch in posts for r in batch]
    assert any(b < a for a, b in zip(uptimes, uptimes[1:], strict=False))  # a reboot


def test_simulated_readings_pass_the_servers_validation():
    sim = machine(Behaviour(error_rate=0.3, offline_rate=0.05), seed=4)
    readings = run(sim, 60)
    parsed = parse_telemetry(readings[:500], machine_id=sim.machine_id,
                             bunker_capacities={B1: 1000, B2: 2000},
                             now=T0 + timedelta(hours=2), max_batch=500,
                             max_clock_skew=timedelta(minutes=5))
    assert len(parsed) == 500


# -- the command against a live server -------------------------------------------------


def wait_until(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.2)


@pytest.mark.interop
def test_simulate_fleet_posts_and_refills_when_the_task_is_done(live_server_process, personas):
    server = live_server_process
    Bunker.objects.filter(pk=personas.coffee.pk).update(current_level_grams=300)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "simulate_fleet", "--url", server.url,
         "--organization", personas.acme.slug, "--machines", "5", "--interval", "0.3",
         "--duration", "8", "--progress", "1", "--seed", "7", "--offline-rate", "0",
         "--error-rate", "0", "--wait-for-server"],
        cwd=live.ROOT, env={**os.environ, "DATABASE_URL": live.test_database_url(), "DEBUG": "1",
                            "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: TelemetryReading.objects.filter(machine=personas.machine).exists())
        Task.objects.create(organization=personas.acme, machine=personas.machine,
                            bunker=personas.coffee, kind=TaskKind.REFILL,
                            status=TaskStatus.DONE, title="Refill coffee")
        wait_until(lambda: Bunker.objects.get(pk=personas.coffee.pk).current_level_grams >= 990)
        output = process.communicate(timeout=30)[0]  # --duration ends it
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output
    assert "simulating 1 machine(s)" in output, output
    assert "readings posted" in output, output  # progress lines
    assert "bunker refilled" in output, output
    assert TelemetryReading.objects.filter(machine=personas.machine).count() >= 2
