"""The stopped-selling rule (sales.silence), pure: the limit is learned from the machine's own
gaps at the hour the silence began, never a fixed number, and needs enough history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from sales.silence import FLOOR, HISTORY, MIN_GAPS, is_abnormal_silence, sales_norm

TASHKENT = ZoneInfo("Asia/Tashkent")
#: A Wednesday, noon in Tashkent.
NOON = datetime(2026, 3, 4, 12, 0, tzinfo=TASHKENT).astimezone(UTC)


def every(step: timedelta, *, until: datetime = NOON, days: int = 28,
          hours: tuple[int, int] = (0, 24)) -> list[datetime]:
    """Sales every `step` over `days` before `until`, only between the local `hours`."""
    times, t = [], until - timedelta(days=days)
    while t <= until:
        if hours[0] <= t.astimezone(TASHKENT).hour < hours[1]:
            times.append(t)
        t += step
    return times


def test_a_regular_machine_is_judged_by_its_own_pace():
    norm = sales_norm(every(timedelta(minutes=40)), started_at=NOON, zone=TASHKENT)
    assert norm.usual_gap == timedelta(minutes=40)
    assert norm.limit == timedelta(minutes=80)
    assert not is_abnormal_silence(norm, started_at=NOON, now=NOON + timedelta(minutes=80))
    assert is_abnormal_silence(norm, started_at=NOON, now=NOON + timedelta(hours=3, minutes=10))


def test_a_busy_machine_is_not_flagged_before_the_floor():
    norm = sales_norm(every(timedelta(minutes=2)), started_at=NOON, zone=TASHKENT)
    assert norm.usual_gap == timedelta(minutes=2) and norm.limit == FLOOR
    assert not is_abnormal_silence(norm, started_at=NOON, now=NOON + timedelta(minutes=3))
    assert not is_abnormal_silence(norm, started_at=NOON, now=NOON + FLOOR)
    assert is_abnormal_silence(norm, started_at=NOON, now=NOON + FLOOR + timedelta(seconds=1))


def test_the_night_is_normal_for_a_machine_that_never_sells_at_night():
    sales = every(timedelta(minutes=20), hours=(8, 20))
    evening = max(t for t in sales if t.astimezone(TASHKENT).hour == 19)
    night = sales_norm(sales, started_at=evening, zone=TASHKENT)
    assert night.usual_gap >= timedelta(hours=12)
    assert not is_abnormal_silence(night, started_at=evening, now=evening + timedelta(hours=11))
    noon = sales_norm(sales, started_at=NOON, zone=TASHKENT)
    assert noon.usual_gap == timedelta(minutes=20)
    assert is_abnormal_silence(noon, started_at=NOON, now=NOON + timedelta(hours=1))


def test_weekend_gaps_are_kept_apart_once_there_are_enough():
    # A mall machine: a sale every 30 minutes on weekdays, every 5 on weekends.
    saturday_noon = datetime(2026, 3, 7, 12, 0, tzinfo=TASHKENT).astimezone(UTC)
    sales = [t for t in every(timedelta(minutes=5), until=saturday_noon)
             if t.astimezone(TASHKENT).weekday() >= 5 or t.minute % 30 == 0]
    weekend = sales_norm(sales, started_at=saturday_noon, zone=TASHKENT)
    assert weekend.day_type_only and weekend.usual_gap == timedelta(minutes=5)
    friday_noon = saturday_noon - timedelta(days=1)
    weekday = sales_norm(sales, started_at=friday_noon, zone=TASHKENT)
    assert weekday.day_type_only and weekday.usual_gap == timedelta(minutes=30)
    # Until a day type has gaps of its own, its silences are judged with both pooled.
    sunday_afternoon = datetime(2026, 3, 1, 14, 0, tzinfo=TASHKENT)
    few_weekends = [t for t in sales if t >= sunday_afternoon]
    pooled = sales_norm(few_weekends, started_at=saturday_noon, zone=TASHKENT)
    assert not pooled.day_type_only and pooled.usual_gap == timedelta(minutes=30)


def test_too_little_history_is_no_judgement():
    six_days = every(timedelta(minutes=5), days=5)
    assert sales_norm(six_days, started_at=NOON, zone=TASHKENT) is None
    one_a_day = every(timedelta(days=1))  # 28 days, but one gap a day at this hour
    assert sales_norm(one_a_day, started_at=NOON, zone=TASHKENT) is None
    assert not is_abnormal_silence(None, started_at=NOON, now=NOON + timedelta(days=30))


def test_only_the_history_before_the_silence_counts():
    sales = every(timedelta(minutes=40))
    noise = [NOON + timedelta(minutes=1), NOON - HISTORY - timedelta(days=3)]
    assert (sales_norm(sales + noise, started_at=NOON, zone=TASHKENT)
            == sales_norm(sales, started_at=NOON, zone=TASHKENT))


# -- properties ---------------------------------------------------------------------------

gaps = st.lists(st.integers(min_value=1, max_value=6 * 3600), min_size=MIN_GAPS, max_size=400)


def history_of(seconds: list[int], started_at: datetime) -> list[datetime]:
    """Sales spaced by `seconds`, the last one at `started_at`."""
    times, t = [started_at], started_at
    for gap in reversed(seconds):
        t -= timedelta(seconds=gap)
        times.append(t)
    return times


@settings(max_examples=150, deadline=None)
@given(gaps, st.integers(min_value=0, max_value=7 * 24 * 3600),
       st.integers(min_value=1, max_value=7 * 24 * 3600))
def test_a_longer_silence_never_turns_normal(seconds, silence, more):
    sales = history_of(seconds, NOON)
    norm = sales_norm(sales, started_at=NOON, zone=TASHKENT, min_days=1, min_gaps=1)
    now = NOON + timedelta(seconds=silence)
    if is_abnormal_silence(norm, started_at=NOON, now=now):
        assert is_abnormal_silence(norm, started_at=NOON, now=now + timedelta(seconds=more))


@settings(max_examples=150, deadline=None)
@given(gaps)
def test_the_limit_is_never_under_the_floor_nor_the_usual_gap(seconds):
    norm = sales_norm(history_of(seconds, NOON), started_at=NOON, zone=TASHKENT,
                      min_days=1, min_gaps=1)
    if norm is not None:
        assert norm.limit >= FLOOR and norm.limit >= norm.usual_gap
        assert norm.usual_gap <= timedelta(seconds=max(seconds))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=3600), max_size=MIN_GAPS - 1))
def test_fewer_gaps_than_the_minimum_are_never_judged(seconds):
    assert sales_norm(history_of(seconds, NOON), started_at=NOON, zone=TASHKENT,
                      min_days=1) is None
