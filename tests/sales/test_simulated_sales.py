"""`simulate_fleet`'s machines against the real endpoints: their vends are accepted, coffee
vends leave the bunkers' expected levels where the simulated bunkers are, and the DEX audit
of a cash collection is accepted with the period of the vends sold since the last one."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from machines.models import Bunker, Machine
from sales.models import AuditRecord, Vend
from telemetry.device_keys import issue_device_key
from telemetry.simulated_tills import resume_counters, till_for
from telemetry.simulator import Behaviour, SimulatedBunker, SimulatedMachine
from tests.sales.conftest import device_client

pytestmark = pytest.mark.django_db

QUIET = Behaviour(error_rate=0, offline_rate=0, heat_rate=0, humid_rate=0)


def simulated(machine: Machine, *, start: datetime, collect_at: int = 60_000, seed: int = 3):
    machine = Machine.objects.select_related("organization").prefetch_related("bunkers").get(
        pk=machine.pk)
    sim = SimulatedMachine(
        machine_id=str(machine.pk), serial_number=machine.serial_number, rng=random.Random(seed),
        behaviour=QUIET, bunkers=[SimulatedBunker(str(b.pk), b.capacity_grams,
                                                  b.current_level_grams, 10)
                                  for b in machine.bunkers.all()])
    sim.sales = till_for(machine, sim, sim.rng, sales_per_minute=3, collect_at=collect_at,
                         collect_every=None, prefix="sim-", now=start)
    if sim.sales is not None:  # the same demand whatever the hour the test runs at
        sim.sales.hourly_demand = (1.0,) * 24
    return sim


def server_level(bunker_id: str) -> int:
    bunker = Bunker.objects.get(pk=bunker_id)
    return (bunker.current_level_grams if bunker.expected_level_grams is None
            else bunker.expected_level_grams)


def run_against_the_server(sim: SimulatedMachine, client, *, start: datetime, minutes: int):
    """Each tick as `simulate_fleet` posts it: vends, then readings, then audits."""
    answers = {"vends": [], "audits": []}
    for tick in range(1, minutes + 1):
        readings = sim.step(start + timedelta(minutes=tick), 60)
        if sim.vends:
            response = client.post("/api/v1/sales/", sim.vends, format="json")
            assert response.status_code == 201, response.json()
            assert response.json()["accepted"] == len(sim.vends)
            answers["vends"] += sim.vends
            sim.vends = []
            for bunker in sim.bunkers:  # the recipe drain agrees with the simulated bunkers
                assert server_level(bunker.bunker_id) == bunker.level
        for reading in readings:
            assert client.post("/api/v1/telemetry/", reading, format="json").status_code in (
                200, 201, 202)
        for text in sim.audits:
            response = client.post("/api/v1/audits/", text, content_type="text/plain")
            assert response.status_code == 201, response.content
            answers["audits"].append(response.json())
        sim.audits = []
    return answers


def test_simulated_vends_audits_and_levels_agree_with_the_server(personas, planogram):
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=4)
    sim = simulated(personas.machine, start=start)
    client = device_client(issue_device_key(machine=personas.machine).plaintext)
    answers = run_against_the_server(sim, client, start=start, minutes=180)

    vends = answers["vends"]
    assert Vend.objects.filter(machine=personas.machine).count() == len(vends) > 20
    assert {v["selection"] for v in vends} == {"1", "A3"}
    baseline, *collections = answers["audits"]
    assert baseline["flags"] == ["first_audit"] and collections
    for previous, audit in zip([baseline, *collections], collections, strict=False):
        period = [v for v in vends if previous["periodTo"] < v["timestamp"] <= audit["periodTo"]]
        assert audit["totals"]["paidVends"] == len(period)
        assert audit["totals"]["paidValue"] == sum(v["price"] for v in period)
        assert audit["period"]["cash"]["salesValue"] >= 60_000  # the collection level
        assert audit["reconciliation"]["matches"], audit["reconciliation"]
        assert audit["flags"] == []


def test_a_restarted_simulator_resumes_the_controllers_counters(personas, planogram):
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    sim = simulated(personas.machine, start=start)
    client = device_client(issue_device_key(machine=personas.machine).plaintext)
    run_against_the_server(sim, client, start=start, minutes=120)
    counters, cash, last_audit = resume_counters(personas.machine)
    assert counters.by_selection == sim.sales.counters.by_selection
    assert counters.by_method == sim.sales.counters.by_method
    assert cash == sim.sales.cash_in_box
    assert last_audit == AuditRecord.objects.filter(machine=personas.machine).latest(
        "audited_at").audited_at


def test_a_machine_without_a_planogram_has_no_till_and_posts_no_audit(personas):
    sim = simulated(personas.machine, start=datetime.now(UTC))
    assert sim.sales is None and sim.audits == []


def test_another_organizations_device_key_cannot_post_the_simulated_audit(personas, planogram):
    sim = simulated(personas.machine, start=datetime.now(UTC))
    stranger = device_client(issue_device_key(machine=personas.rival_machine).plaintext)
    response = stranger.post("/api/v1/audits/", sim.audits[0], content_type="text/plain")
    assert response.status_code == 400 and "serial" in response.json()
    assert not AuditRecord.objects.exists()
