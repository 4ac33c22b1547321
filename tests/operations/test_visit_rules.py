"""operations.rules: which machines need a visit on a day, and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from operations.rules import (
    CASH,
    CLEANING,
    CRITICAL_ERROR,
    RUNS_OUT,
    TASK,
    MachineFacts,
    earliest_run_out,
    priority,
    visit_reasons,
)

DAY_START = datetime(2030, 6, 2, 19, 0, tzinfo=UTC)  # midnight in Tashkent
RECENT = DAY_START - timedelta(days=1)


def reasons(**facts) -> list[str]:
    facts.setdefault("in_service_since", RECENT)
    return visit_reasons(MachineFacts(machine_id=1, **facts), day_start=DAY_START,
                         horizon_hours=36, cleaning_interval_days=7)


def test_a_machine_with_nothing_due_needs_no_visit():
    assert reasons() == []


def test_running_out_before_the_next_chance_is_a_reason():
    assert reasons(run_out_times=(DAY_START + timedelta(hours=35, minutes=59),)) == [RUNS_OUT]


def test_running_out_at_or_after_the_next_chance_can_wait():
    assert reasons(run_out_times=(DAY_START + timedelta(hours=36),)) == []


def test_the_earliest_of_several_items_decides():
    late = DAY_START + timedelta(days=5)
    assert reasons(run_out_times=(late, DAY_START + timedelta(hours=1))) == [RUNS_OUT]


def test_the_pessimistic_end_of_a_forecast_range_counts():
    point = DAY_START + timedelta(hours=40)
    early = DAY_START + timedelta(hours=30)
    assert earliest_run_out(point, early) == early
    assert earliest_run_out(point, None) == point
    assert earliest_run_out(None, None) is None


def test_an_open_critical_error_is_a_reason():
    assert reasons(open_critical_errors=1) == [CRITICAL_ERROR]


def test_cash_at_the_threshold_is_a_reason_and_a_zero_threshold_never_is():
    assert reasons(cash_expected=500_000, cash_threshold=500_000) == [CASH]
    assert reasons(cash_expected=499_999, cash_threshold=500_000) == []
    assert reasons(cash_expected=10**9, cash_threshold=0) == []


def test_cleaning_is_due_when_the_interval_ends_by_the_end_of_the_day():
    assert reasons(last_cleaning_at=DAY_START - timedelta(days=6)) == [CLEANING]
    assert reasons(last_cleaning_at=DAY_START - timedelta(days=5, hours=23)) == []


def test_a_machine_never_cleaned_counts_from_its_start_in_service():
    assert reasons(in_service_since=DAY_START - timedelta(days=30)) == [CLEANING]


def test_an_open_refill_or_collection_task_is_a_reason():
    assert reasons(open_tasks=2) == [TASK]


def test_reasons_are_listed_in_a_fixed_order():
    assert reasons(open_tasks=1, open_critical_errors=1, cash_expected=5, cash_threshold=1,
                   run_out_times=(DAY_START,),
                   last_cleaning_at=DAY_START - timedelta(days=30)) == [
        RUNS_OUT, CRITICAL_ERROR, CASH, CLEANING, TASK]


def test_a_broken_machine_costs_more_to_leave_out_than_a_dirty_one():
    assert priority([CRITICAL_ERROR]) > priority([RUNS_OUT]) > priority([CLEANING])
    assert priority([]) == 1
