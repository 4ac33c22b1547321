"""The simulator's till (no database): demand by the hour, the payment mix, recipes and
slots drained by what is sold, and the DEX audit of a cash collection."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sales.dex import parse_dex
from telemetry.simulated_sales import Counters, SimulatedSales, SimulatedSelection
from telemetry.simulator import Behaviour, SimulatedBunker, SimulatedMachine

TASHKENT = ZoneInfo("Asia/Tashkent")
#: 08:00 in Tashkent: the morning peak.
MORNING = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
COFFEE, MILK = "bunker-coffee", "bunker-milk"
QUIET = Behaviour(error_rate=0, offline_rate=0, heat_rate=0, humid_rate=0)


def coffee_till(seed: int = 1, **fields) -> SimulatedSales:
    return SimulatedSales(
        machine_id="m-1", serial_number="VH-0001", rng=random.Random(seed), time_zone=TASHKENT,
        selections=[SimulatedSelection("1", 15000, recipe=((COFFEE, 18), (MILK, 12))),
                    SimulatedSelection("2", 10000, recipe=((COFFEE, 8),))], **fields)


def bunkers(coffee: int = 100_000, milk: int = 100_000) -> dict[str, SimulatedBunker]:
    return {COFFEE: SimulatedBunker(COFFEE, 10**6, coffee, 0),
            MILK: SimulatedBunker(MILK, 10**6, milk, 0)}


def sell_for(till: SimulatedSales, levels: dict, *, start: datetime, minutes: int,
             step: int = 60) -> list[dict]:
    vends = []
    for tick in range(1, minutes * 60 // step + 1):
        vends += till.sell(start + timedelta(seconds=tick * step), step, levels)
    return vends


def test_coffee_vends_take_exactly_their_recipes_grams_from_the_bunkers():
    till, levels = coffee_till(), bunkers()
    vends = sell_for(till, levels, start=MORNING, minutes=120)
    cups = Counter(v["selection"] for v in vends)
    assert cups["1"] and cups["2"]
    assert levels[COFFEE].level == 100_000 - 18 * cups["1"] - 8 * cups["2"]
    assert levels[MILK].level == 100_000 - 12 * cups["1"]


def test_a_recipe_the_bunkers_cannot_fill_is_not_sold():
    till, levels = coffee_till(), bunkers(coffee=200, milk=0)
    vends = sell_for(till, levels, start=MORNING, minutes=120)
    assert {v["selection"] for v in vends} == {"2"}  # no milk: no cappuccino
    assert len(vends) == 25 and levels[COFFEE].level == 0  # 25 cups of 8 g, then nothing


def test_snack_slots_empty_with_sales_and_are_filled_to_par_on_a_collection():
    till = SimulatedSales(machine_id="m-2", serial_number="VS-0001", rng=random.Random(2),
                          selections=[SimulatedSelection("A1", 9000, capacity=10, par_level=8)],
                          collect_at=10**9)
    vends = sell_for(till, {}, start=MORNING, minutes=240)
    assert len(vends) == 8 and till.selections[0].stock == 0
    till.collect(MORNING + timedelta(hours=5))
    assert till.selections[0].stock == 8


def test_payments_follow_the_cash_card_mobile_mix_with_their_providers():
    till = coffee_till(seed=3, sales_per_minute=20)
    vends = sell_for(till, bunkers(10**9, 10**9), start=MORNING, minutes=600)
    methods = Counter(v["paymentMethod"] for v in vends)
    total = sum(methods.values())
    assert total > 5000
    for method, share in (("cash", 0.45), ("card", 0.35), ("mobile", 0.20)):
        assert abs(methods[method] / total - share) < 0.03, methods
    providers = {m: {v.get("provider") for v in vends if v["paymentMethod"] == m}
                 for m in methods}
    assert providers["cash"] == {None}
    assert providers["mobile"] == {"Payme", "Click"}
    assert providers["card"] <= {"Uzcard", "Humo", "Visa"}


def test_demand_follows_the_hour_of_the_day_in_the_machines_time_zone():
    till = coffee_till()
    night = datetime(2026, 3, 2, 22, 0, tzinfo=UTC)  # 03:00 in Tashkent
    assert till.demand(MORNING) > 10 * till.demand(night)
    day = [till.demand(MORNING + timedelta(minutes=10 * i)) for i in range(144)]
    assert abs(sum(day) / len(day) - till.sales_per_minute) < 0.05  # the day's mean


def test_transaction_ids_are_unique_and_carry_the_runs_prefix():
    till = coffee_till(transaction_prefix="run7-", sales_per_minute=5)
    ids = [v["transactionId"] for v in sell_for(till, bunkers(), start=MORNING, minutes=60)]
    assert len(ids) == len(set(ids)) > 50 and all(i.startswith("run7-") for i in ids)


def test_a_collection_audit_counts_every_vend_since_the_last_one():
    till, levels = coffee_till(collect_at=100_000), bunkers()
    first = parse_dex(till.audit(MORNING))
    vends = []
    for tick in range(1, 600):
        now = MORNING + timedelta(minutes=tick)
        vends += till.sell(now, 60, levels)
        if till.collection_due(now):
            text = till.collect(now)
            break
    audit = parse_dex(text)
    assert audit.crc_checked and audit.machine_serial == "VH-0001"
    assert audit.read_at == now.astimezone(TASHKENT).replace(tzinfo=None, microsecond=0)
    assert audit.totals.paid_vends - (first.totals.paid_vends or 0) == len(vends)
    assert audit.totals.paid_value == sum(v["price"] for v in vends)
    cash = sum(v["price"] for v in vends if v["paymentMethod"] == "cash")
    assert cash >= 100_000 and audit.cash.cash_sales_value == cash == audit.cash.cash_to_box
    by_device = {d.device: d.sales_value for d in audit.cashless}
    assert by_device == {
        "DA": sum(v["price"] for v in vends if v["paymentMethod"] == "card"),
        "DB": sum(v["price"] for v in vends if v["paymentMethod"] == "mobile")}
    per_selection = Counter(v["selection"] for v in vends)
    assert {s.selection: s.vends for s in audit.selections} == dict(per_selection)
    assert till.cash_in_box == 0
    later = till.sell(now + timedelta(seconds=1), 1, levels) or till.sell(
        now + timedelta(minutes=5), 300, levels)
    assert all(datetime.fromisoformat(v["timestamp"]) > now.replace(microsecond=0)
               for v in later)  # after the audit's read time: the next period's


def test_counters_resume_from_the_controllers_last_audit():
    till = coffee_till(collect_at=1)
    levels = bunkers()
    sell_for(till, levels, start=MORNING, minutes=30)
    resumed = Counters.from_audit(parse_dex(till.audit(MORNING + timedelta(hours=1))))
    assert resumed.by_selection == till.counters.by_selection
    assert resumed.by_method == till.counters.by_method


def test_a_machine_with_a_till_queues_vends_and_audits_and_reports_its_levels():
    till = coffee_till(collect_at=50_000, sales_per_minute=4)
    machine = SimulatedMachine(
        machine_id="m-1", serial_number="VH-0001", rng=random.Random(5), behaviour=QUIET,
        bunkers=[SimulatedBunker(COFFEE, 5000, 5000, 10), SimulatedBunker(MILK, 5000, 5000, 10)],
        sales=till)
    readings = []
    for tick in range(1, 121):
        readings += machine.step(MORNING + timedelta(seconds=30 * tick), 30)
    cups = Counter(v["selection"] for v in machine.vends)
    assert machine.vends and machine.audits
    assert readings[-1]["bunkers"][0]["currentLevel"] == 5000 - 18 * cups["1"] - 8 * cups["2"]
    assert readings[-1]["lastSale"] == machine.vends[-1]["timestamp"]


def test_a_machine_without_a_planogram_keeps_its_old_telemetry_only_sales():
    machine = SimulatedMachine(machine_id="m-1", serial_number="VH-0001", rng=random.Random(1),
                               behaviour=QUIET, bunkers=[SimulatedBunker(COFFEE, 1000, 1000, 10)])
    for tick in range(1, 200):
        machine.step(MORNING + timedelta(seconds=5 * tick), 5)
    assert machine.bunkers[0].level < 1000 and not machine.vends and not machine.audits
