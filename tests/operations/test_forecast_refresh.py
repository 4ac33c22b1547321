"""Refreshing forecasts (operations.forecasting): readings and vends become Forecast rows,
vends keep the slot stocks, batches refresh after they commit, and the live pages hear of
what changed, in a fixed number of queries per machine."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from operations.forecasting import (
    refresh_after_ingest_of,
    refresh_forecasts,
    refresh_stale_forecasts,
)
from operations.models import Forecast, ForecastMethod, SlotStock
from realtime.events import EVENT_SCHEMAS
from realtime.rooms import machine_room, map_room
from sales.ingest import ingest_vends
from sales.vends import VendIn
from telemetry.rules import Reading
from telemetry.services import ingest_telemetry
from tests.factories import make_bunker, make_machine
from tests.operations.forecasts_data import (
    now as current,
)
from tests.operations.forecasts_data import (
    snack_planogram,
    store_levels,
    store_vends,
)
from tests.realtime.test_events import assert_matches
from tests.telemetry.conftest import sent  # noqa: F401  (records the published events)

pytestmark = pytest.mark.django_db


def refresh_after_ingest(*, machine, now) -> bool:
    """Whether the after-ingest hook refreshed `machine` alone."""
    return refresh_after_ingest_of(machines=[machine], now=now) == [machine]


def configure(settings, **options) -> None:
    """Set `OPERATIONS` options for the test, keeping the others."""
    settings.OPERATIONS = {**(getattr(settings, "OPERATIONS", None) or {}), **options}


def test_falling_levels_become_a_recent_rate_and_a_run_out_time(personas):
    now = current()
    store_levels(personas.machine, {personas.coffee: (800, 50)}, now=now, hours=6)
    refresh_forecasts(personas.machine, now=now)
    row = Forecast.objects.get(bunker=personas.coffee)
    assert row.method == ForecastMethod.RECENT and row.level == 500
    assert row.rate_per_hour == pytest.approx(50, rel=0.02)
    assert abs((row.runs_out_at - (now + timedelta(hours=10))).total_seconds()) < 15 * 60
    assert row.earliest_at <= row.runs_out_at <= row.latest_at
    # The milk bunker never reported: no forecast yet, but a row that says so.
    milk = Forecast.objects.get(bunker=personas.milk)
    assert milk.method == ForecastMethod.NONE and milk.runs_out_at is None


def test_the_vends_estimate_since_the_last_reading_is_the_level(personas):
    now = current()
    store_levels(personas.machine, {personas.coffee: (800, 50)}, now=now, hours=6)
    type(personas.coffee).objects.filter(pk=personas.coffee.pk).update(expected_level_grams=300,
                                                                       updated_at=now)
    refresh_forecasts(personas.machine, now=now)
    assert Forecast.objects.get(bunker=personas.coffee).level == 300


def test_a_reading_batch_refreshes_the_forecasts_once_it_commits(personas, sent, settings):  # noqa: F811
    configure(settings, FORECAST_REFRESH_SECONDS=0)
    now = current()
    store_levels(personas.machine, {personas.coffee: (900, 40)}, now=now - timedelta(minutes=5),
                 hours=6)
    reading = Reading(timestamp=now, status="online", temperature=21.0, humidity=40.0,
                      uptime=3600, last_sale=None, bunker_levels={str(personas.coffee.pk): 655},
                      errors=())
    with sent.capture():
        ingest_telemetry(machine=personas.machine, readings=[reading])
    row = Forecast.objects.get(bunker=personas.coffee)
    assert row.level == 655 and row.method == ForecastMethod.RECENT
    [payload] = sent.of("machine:forecast", machine_room(personas.machine.pk))
    assert_matches(payload, EVENT_SCHEMAS["machine:forecast"])
    coffee = next(f for f in payload["forecasts"] if f["bunkerId"] == str(personas.coffee.pk))
    assert coffee["name"] == "Coffee" and coffee["unit"] == "g" and coffee["level"] == 655
    [runout] = sent.of("machine:runout", map_room(personas.acme.pk))
    assert runout == {"machineId": str(personas.machine.pk), "runsOutAt": payload["runsOutAt"]}
    # Nobody else's rooms.
    assert {room for room, _, _ in sent.records} <= {machine_room(personas.machine.pk),
                                                     map_room(personas.acme.pk),
                                                     f"org:{personas.acme.pk}"}


def test_batches_refresh_a_machine_at_most_every_interval(personas, settings):
    configure(settings, FORECAST_REFRESH_SECONDS=60)
    now = current()
    assert refresh_after_ingest(machine=personas.machine, now=now) is True
    assert refresh_after_ingest(machine=personas.machine, now=now + timedelta(seconds=30)) is False
    assert refresh_after_ingest(machine=personas.machine, now=now + timedelta(seconds=61)) is True


def test_a_machine_with_nothing_to_forecast_is_not_recomputed_on_every_batch(personas):
    bare = make_machine(personas.acme)  # no bunker, no planogram slot
    with CaptureQueriesContext(connection) as queries:
        assert refresh_after_ingest(machine=bare, now=current()) is False
    assert len(queries) == 2  # its newest forecast (none), whether it has any stock (none)
    assert not Forecast.objects.filter(machine=bare).exists()


def test_a_batch_of_many_machines_is_decided_in_three_queries(personas, settings):
    """The MQTT worker stores many machines' readings in one transaction and calls the hook
    once with all of them: deciding which to refresh does not cost queries per machine."""
    configure(settings, FORECAST_REFRESH_SECONDS=3600)
    now = current()
    stocked = [make_machine(personas.acme) for _ in range(6)]
    for machine in stocked:
        make_bunker(machine, "Coffee", capacity=1000, level=500)
        refresh_forecasts(machine, now=now)
    bare = make_machine(personas.acme)
    later = now + timedelta(minutes=1)
    with CaptureQueriesContext(connection) as queries:
        assert refresh_after_ingest_of(machines=[*stocked, bare], now=later) == []
    # newest forecast per machine, which of those without one have stock, which were refilled
    assert len(queries) == 3

    refilled = stocked[2]
    refilled.bunkers.update(current_level_grams=1000)
    assert refresh_after_ingest_of(machines=[*stocked, bare], now=later) == [refilled]
    assert Forecast.objects.get(machine=refilled).level == 1000


def test_a_refill_refreshes_at_once_whatever_the_interval(personas, settings):
    configure(settings, FORECAST_REFRESH_SECONDS=3600)
    now = current()
    assert refresh_after_ingest(machine=personas.machine, now=now) is True
    later = now + timedelta(minutes=1)
    assert refresh_after_ingest(machine=personas.machine, now=later) is False
    type(personas.coffee).objects.filter(pk=personas.coffee.pk).update(current_level_grams=1000)
    assert refresh_after_ingest(machine=personas.machine, now=later) is True
    assert Forecast.objects.get(bunker=personas.coffee).level == 1000
    assert refresh_after_ingest(machine=personas.machine, now=later) is False


def test_a_filled_slot_refreshes_at_once(personas, settings):
    configure(settings, FORECAST_REFRESH_SECONDS=3600)
    now = current()
    snack_planogram(personas.machine, effective_from=now - timedelta(days=1), capacity=10)
    SlotStock.objects.filter(machine=personas.machine).update(level=2)
    refresh_forecasts(personas.machine, now=now)
    SlotStock.objects.filter(machine=personas.machine).update(level=10)
    assert refresh_after_ingest(machine=personas.machine, now=now + timedelta(minutes=1))
    assert Forecast.objects.get(machine=personas.machine, slot_code="A1").level == 10


def test_a_refresh_that_changes_nothing_sends_nothing(personas, sent):  # noqa: F811
    now = current()
    store_levels(personas.machine, {personas.coffee: (800, 50)}, now=now, hours=6)
    with sent.capture():
        refresh_forecasts(personas.machine, now=now)
    assert sent.of("machine:forecast")
    sent.records.clear()
    with sent.capture():
        assert refresh_forecasts(personas.machine, now=now + timedelta(seconds=5)) is False
    assert sent.records == []


# -- slots --------------------------------------------------------------------------------


def test_a_new_planogram_stocks_its_new_slots_at_capacity_and_keeps_the_others(personas):
    now = current()
    snack_planogram(personas.machine, effective_from=now - timedelta(days=1), capacity=10)
    stock = SlotStock.objects.get(machine=personas.machine, code="A1")
    assert stock.level == 10
    SlotStock.objects.filter(pk=stock.pk).update(level=3)
    snack_planogram(personas.machine, effective_from=now, capacity=12)
    assert SlotStock.objects.get(pk=stock.pk).level == 3
    # A coffee button has no capacity: no slot.
    assert SlotStock.objects.filter(machine=personas.machine).count() == 1


def test_vends_take_from_their_slot_never_below_zero_in_one_update(personas):
    now = current()
    snack_planogram(personas.machine, effective_from=now - timedelta(days=1), capacity=3)
    vends = [VendIn(f"v-{i}", "A1", 12000, "card", "", now - timedelta(minutes=i))
             for i in range(5)] + [VendIn("x", "Z9", 1000, "cash", "", now)]
    with CaptureQueriesContext(connection) as queries:
        ingest_vends(machine=personas.machine, vends=vends)
    assert SlotStock.objects.get(machine=personas.machine, code="A1").level == 0
    assert sum('"operations_slotstock"' in q["sql"] and q["sql"].startswith("UPDATE")
               for q in queries.captured_queries) == 1
    # A retried batch takes nothing again.
    SlotStock.objects.filter(machine=personas.machine).update(level=3)
    ingest_vends(machine=personas.machine, vends=vends)
    assert SlotStock.objects.get(machine=personas.machine, code="A1").level == 3


def test_vends_per_hour_forecast_when_a_slot_runs_out(personas, settings, sent):  # noqa: F811
    configure(settings, FORECAST_REFRESH_SECONDS=0)
    now = current()
    snack_planogram(personas.machine, effective_from=now - timedelta(hours=13), capacity=10)
    SlotStock.objects.filter(machine=personas.machine).update(
        created_at=now - timedelta(hours=12), level=12)
    # Two an hour for twelve hours; then one more batch through ingestion.
    store_vends(personas.machine, "A1", [now - timedelta(hours=12) + timedelta(minutes=30 * i)
                                         for i in range(24)])
    with sent.capture():
        ingest_vends(machine=personas.machine, vends=[VendIn("new", "A1", 12000, "card", "",
                                                             now)], now=now)
    row = Forecast.objects.get(machine=personas.machine, slot_code="A1")
    assert row.level == 11 and row.method == ForecastMethod.RECENT
    assert row.rate_per_hour == pytest.approx(2.0, abs=0.2)
    assert abs((row.runs_out_at - (now + timedelta(hours=5.5))).total_seconds()) < 3600
    [payload] = sent.of("machine:forecast")
    slot = next(f for f in payload["forecasts"] if f["kind"] == "slot")
    assert slot["name"] == "Snickers" and slot["unit"] == "pcs" and slot["slotCode"] == "A1"


# -- cost -----------------------------------------------------------------------------------


def _queries(machine, now) -> int:
    with CaptureQueriesContext(connection) as queries:
        refresh_forecasts(machine, now=now)
    return len(queries.captured_queries)


def test_a_refresh_takes_the_same_queries_whatever_the_history_and_the_fleet(personas):
    now = current()
    small = make_machine(personas.acme)
    make_bunker(small, "Tea", level=500)
    snack_planogram(small, effective_from=now - timedelta(days=1))
    big = make_machine(personas.acme)
    bunkers = [make_bunker(big, name) for name in ("Coffee", "Milk", "Sugar", "Cocoa")]
    store_levels(big, {b: (1000, 10) for b in bunkers}, now=now, hours=48)
    snack_planogram(big, effective_from=now - timedelta(days=3))
    store_vends(big, "A1", [now - timedelta(minutes=7 * i) for i in range(300)])
    for _ in range(5):  # more machines in the fleet
        make_bunker(make_machine(personas.acme), "Coffee")
    first = _queries(small, now)  # creates rows, and has news (the slots' names read)
    assert first == _queries(big, now)
    later = now + timedelta(hours=1)
    # Without news the names are not read: one query fewer, never more.
    assert _queries(small, later) <= first and _queries(big, later) <= first
    assert first <= 11


# -- the sweep and the command --------------------------------------------------------------


def test_the_watchdog_refreshes_stale_and_missing_forecasts_only(personas, settings):
    configure(settings, FORECAST_STALE_MINUTES=15)
    now = current()
    assert refresh_stale_forecasts(now=now) == 2  # both organizations' machines, never done
    assert refresh_stale_forecasts(now=now + timedelta(minutes=5)) == 0
    assert refresh_stale_forecasts(now=now + timedelta(minutes=16)) == 2


def test_the_command_refreshes_every_machine_and_says_how_far_it_got(personas):
    out = StringIO()
    call_command("refresh_forecasts", stdout=out)
    assert Forecast.objects.filter(machine=personas.machine).count() == 2
    assert Forecast.objects.filter(machine=personas.rival_machine).count() == 1
    text = out.getvalue()
    assert "2/2" in text and "refreshed 2 machines" in text
