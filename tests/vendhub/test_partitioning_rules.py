"""The pure side of day partitions (vendhub.partitioning): names, days to create, days to
drop, the same for every partitioned table."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sales.partitions import VENDS
from telemetry.partitions import READINGS
from vendhub.partitioning import (
    day_start,
    days_between,
    days_to_create,
    days_to_drop,
)


def test_a_partition_is_named_after_its_utc_day_and_the_name_gives_the_day_back():
    assert READINGS.partition_name(date(2026, 12, 7)) == "telemetry_telemetryreading_p20261207"
    assert READINGS.day_of("telemetry_telemetryreading_p20261207") == date(2026, 12, 7)
    assert READINGS.day_of(READINGS.default_partition) is None
    assert READINGS.day_of("telemetry_telemetryreading_p2026120") is None
    assert VENDS.partition_name(date(2026, 12, 7)) == "sales_vend_p20261207"
    # Each table knows only its own partitions.
    assert VENDS.day_of("telemetry_telemetryreading_p20261207") is None
    assert READINGS.day_of("sales_vend_p20261207") is None
    assert day_start(date(2026, 12, 7)) == datetime(2026, 12, 7, tzinfo=UTC)


def test_days_between_includes_both_ends_and_crosses_months_and_leap_days():
    assert days_between(date(2028, 2, 28), date(2028, 3, 1)) == [
        date(2028, 2, 28), date(2028, 2, 29), date(2028, 3, 1)]
    assert days_between(date(2026, 12, 7), date(2026, 12, 7)) == [date(2026, 12, 7)]
    assert days_between(date(2026, 12, 8), date(2026, 12, 7)) == []


def test_only_the_missing_days_around_today_are_created():
    existing = {date(2026, 12, 6), date(2026, 12, 8)}
    assert days_to_create(existing, today=date(2026, 12, 7), ahead=2, behind=1) == [
        date(2026, 12, 7), date(2026, 12, 9)]
    assert days_to_create(set(), today=date(2026, 12, 31), ahead=1, behind=0) == [
        date(2026, 12, 31), date(2027, 1, 1)]


def test_only_days_entirely_before_the_cutoff_are_dropped_the_boundary_day_stays():
    days = [date(2026, 9, 7), date(2026, 9, 8), date(2026, 9, 9)]
    assert days_to_drop(days, datetime(2026, 9, 8, 10, 5, tzinfo=UTC)) == [date(2026, 9, 7)]
    # A cutoff at midnight ends the day before it exactly.
    assert days_to_drop(days, datetime(2026, 9, 9, tzinfo=UTC)) == [
        date(2026, 9, 7), date(2026, 9, 8)]
    assert days_to_drop(days, datetime(2026, 9, 7, 23, 59, tzinfo=UTC)) == []
