"""The run-out rules (operations.forecast): no database, no clock but the one given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from operations.forecast import (
    NONE,
    PROFILE,
    RECENT,
    Usage,
    hourly,
    integrate,
    learn_profile,
    predict,
    quantile,
    usage_from_counts,
    usage_from_levels,
)

UTC_ZONE = ZoneInfo("UTC")
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday
H = timedelta(hours=1)


def steady(rate: float, hours: int, *, now: datetime = NOW) -> list[Usage]:
    """`hours` of history, `rate` per hour, one usage per hour, ending at `now`."""
    return [Usage(now - H * (i + 1), now - H * i, rate) for i in range(hours)]


def test_levels_falling_are_consumption_and_a_jump_up_is_a_refill():
    t = [NOW + H * i for i in range(5)]
    usage = usage_from_levels([(t[0], 1000), (t[1], 900), (t[2], 800), (t[3], 2000),
                               (t[4], 1900)], refill_tolerance=20)
    assert [(u.start, u.amount) for u in usage] == [(t[0], 100), (t[1], 100), (t[3], 100)]


def test_sensor_noise_that_rises_a_little_cancels_out_instead_of_counting():
    t = [NOW + H * i for i in range(3)]
    usage = usage_from_levels([(t[0], 1000), (t[1], 990), (t[2], 1000)], refill_tolerance=20)
    assert sum(u.amount for u in usage) == 0


def test_counts_make_every_hour_observed_even_without_an_event():
    usage = usage_from_counts({NOW - 2 * H: 3}, since=NOW - 3 * H, until=NOW)
    assert [u.amount for u in usage] == [0, 3, 0]


def test_a_usage_is_spread_over_the_hours_it_covers():
    buckets = hourly([Usage(NOW - timedelta(minutes=30), NOW + timedelta(minutes=30), 60)])
    assert buckets == {NOW - H: (30.0, 1800.0), NOW: (30.0, 1800.0)}


def test_without_enough_history_there_is_no_forecast():
    prediction = predict(steady(10, 1), level=500, now=NOW, zone=UTC_ZONE)
    assert prediction.method == NONE and prediction.runs_out_at is None


def test_a_steady_rate_runs_out_at_level_over_rate():
    prediction = predict(steady(50, 12), level=500, now=NOW, zone=UTC_ZONE)
    assert prediction.method == RECENT
    assert prediction.rate_per_hour == 50
    assert prediction.runs_out_at == NOW + 10 * H
    # No spread in the history: the interval is the point.
    assert prediction.earliest_at == prediction.latest_at == NOW + 10 * H


def test_refills_in_the_history_do_not_lower_the_rate():
    t = [NOW - H * i for i in range(6, -1, -1)]
    levels = [1000, 900, 800, 2000, 1900, 1800, 1700]
    usage = usage_from_levels(list(zip(t, levels, strict=True)), refill_tolerance=20)
    assert predict(usage, level=1700, now=NOW, zone=UTC_ZONE).rate_per_hour == 100


def test_an_uneven_rate_gives_an_interval_around_the_point():
    # Busy and quiet stretches of six hours: the next hours may be either.
    usage = [Usage(NOW - H * (i + 1), NOW - H * i, 20 if (i // 6) % 2 else 80)
             for i in range(24)]
    prediction = predict(usage, level=500, now=NOW, zone=UTC_ZONE)
    assert prediction.rate_per_hour == 50
    assert prediction.earliest_at < prediction.runs_out_at < prediction.latest_at


def test_an_empty_bunker_has_run_out_already():
    assert predict(steady(50, 12), level=0, now=NOW, zone=UTC_ZONE).runs_out_at == NOW


def test_a_run_out_beyond_the_horizon_is_none():
    assert predict(steady(0.01, 12), level=10_000, now=NOW, zone=UTC_ZONE).runs_out_at is None


def test_two_weeks_of_history_switch_to_the_hour_of_day_profile():
    # Busy from 8:00 to 20:00 (60/h), nothing at night: the profile knows the night.
    usage = [Usage(NOW - H * (i + 1), NOW - H * i,
                   60 if 8 <= (NOW - H * (i + 1)).hour < 20 else 0) for i in range(14 * 24)]
    prediction = predict(usage, level=600, now=NOW, zone=UTC_ZONE)
    assert prediction.method == PROFILE
    # 8 busy hours left today (12:00-20:00) take 480, then the night takes nothing,
    # the last 120 go at 60/h from 8:00 tomorrow.
    assert prediction.runs_out_at == NOW + 22 * H
    assert prediction.rate_per_hour == 30  # the day ahead's mean


def test_the_profile_tells_weekends_from_weekdays():
    usage = [Usage(NOW - H * (i + 1), NOW - H * i,
                   10 if (NOW - H * (i + 1)).weekday() >= 5 else 100) for i in range(21 * 24)]
    profile = learn_profile(hourly(usage), zone=UTC_ZONE)
    saturday = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)
    assert profile.rate_at(NOW) == 100 and profile.rate_at(saturday) == 10


def test_the_profile_reads_hours_in_the_organizations_time_zone():
    tashkent = ZoneInfo("Asia/Tashkent")  # UTC+5
    usage = [Usage(NOW - H * (i + 1), NOW - H * i,
                   50 if (NOW - H * (i + 1)).astimezone(tashkent).hour == 9 else 0)
             for i in range(14 * 24)]
    profile = learn_profile(hourly(usage), zone=tashkent)
    assert profile.rate_at(datetime(2026, 3, 5, 4, 0, tzinfo=UTC)) == 50  # 9:00 in Tashkent
    assert profile.rate_at(datetime(2026, 3, 5, 9, 0, tzinfo=UTC)) == 0


def test_integrate_within_an_hour():
    assert integrate(lambda at: 60, level=30, now=NOW, horizon=H) == NOW + H / 2


def test_quantile_is_linear_between_neighbours():
    assert quantile([0, 10], 0.5) == 5 and quantile([1, 2, 3], 0.0) == 1
    assert quantile([1, 2, 3], 1.0) == 3


# -- properties ------------------------------------------------------------------------------

rates = st.lists(st.floats(min_value=0, max_value=500), min_size=3, max_size=24 * 9)


def _usage(values: list[float]) -> list[Usage]:
    return [Usage(NOW - H * (i + 1), NOW - H * i, value) for i, value in enumerate(values)]


@settings(max_examples=150, deadline=None)
@given(rates, st.floats(min_value=0, max_value=50_000), st.floats(min_value=0, max_value=50_000))
def test_a_higher_level_never_runs_out_earlier_with_the_same_rates(values, a, b):
    low, high = sorted((a, b))
    usage = _usage(values)
    first = predict(usage, level=low, now=NOW, zone=UTC_ZONE)
    second = predict(usage, level=high, now=NOW, zone=UTC_ZONE)
    assert first.method == second.method
    for earlier, later in ((first.runs_out_at, second.runs_out_at),
                           (first.earliest_at, second.earliest_at),
                           (first.latest_at, second.latest_at)):
        if later is not None:
            assert earlier is not None and earlier <= later


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=3, max_value=24 * 10), st.floats(min_value=0.001, max_value=1e6))
def test_zero_consumption_never_runs_out(hours, level):
    prediction = predict(_usage([0.0] * hours), level=level, now=NOW, zone=UTC_ZONE)
    assert prediction.runs_out_at is None and prediction.rate_per_hour == 0


@settings(max_examples=150, deadline=None)
@given(rates, st.floats(min_value=1, max_value=50_000))
def test_the_interval_holds_the_point(values, level):
    prediction = predict(_usage(values), level=level, now=NOW, zone=UTC_ZONE)
    if prediction.runs_out_at is not None:
        earliest = prediction.earliest_at
        assert earliest is not None and earliest <= prediction.runs_out_at
        assert prediction.latest_at is None or prediction.runs_out_at <= prediction.latest_at
