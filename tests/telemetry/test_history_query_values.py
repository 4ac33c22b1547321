"""GET /api/v1/machines/{id}/telemetry/history: out-of-range query values are a 400 naming
the parameter, never a 500, and no bucket stamps its point decades before the range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from telemetry.history import MAX_BUCKET, MAX_POINTS
from tests.conftest import client_for
from tests.factories import make_reading

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def get(personas, **params):
    client = client_for(personas.viewer)
    client.raise_request_exception = False
    return client.get(f"/api/v1/machines/{personas.machine.pk}/telemetry/history", params)


def assert_names(response, name):
    assert response.status_code == 400, response.content
    assert list(response.json()) == [name], response.json()


@pytest.mark.parametrize("name, value", [
    ("to", "9999-12-31T23:59:59-14:00"),
    ("from", "0001-01-01T00:00:00+14:00"),
])
def test_a_date_beyond_the_calendar_once_in_utc_is_named(personas, name, value):
    assert_names(get(personas, **{name: value}), name)


def test_a_range_ending_on_the_first_day_of_the_calendar_is_refused(personas):
    # No default `from` (a day before `to`) exists: `to` is not after it.
    assert_names(get(personas, to="0001-01-01T00:00:00Z"), "to")


@pytest.mark.parametrize("bucket", ["31d", str(MAX_BUCKET + 1), "1000000000d", "9" * 30,
                                    "9" * 5000])
def test_a_bucket_wider_than_30_days_is_named(personas, bucket):
    response = get(personas, bucket=bucket)
    assert_names(response, "bucket")
    assert "at most" in response.json()["bucket"][0]


@pytest.mark.parametrize("bucket", ["٣٠٠", "³⁰⁰"])
def test_a_bucket_in_digits_other_than_ascii_is_named(personas, bucket):
    assert_names(get(personas, bucket=bucket), "bucket")


def test_the_widest_bucket_stamps_its_point_within_a_bucket_of_the_reading(personas):
    make_reading(personas.machine, timestamp=T0, temperature=20.0)
    response = get(personas, **{"from": "2026-01-01T00:00:00Z", "to": "2026-04-01T00:00:00Z",
                                "bucket": "30d"})
    assert response.status_code == 200, response.content
    [point] = response.json()["points"]
    stamped = datetime.fromisoformat(point["timestamp"])
    assert T0 - timedelta(days=30) < stamped <= T0


def test_a_bucket_too_small_for_the_range_is_refused_not_millions_of_points(personas):
    response = get(personas, **{"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z",
                                "bucket": "10"})
    assert_names(response, "bucket")
    assert str(MAX_POINTS) in response.json()["bucket"][0]


def test_a_range_too_long_for_the_widest_bucket_names_from(personas):
    response = get(personas, **{"from": "0001-01-01T00:00:00Z", "to": "9999-12-31T00:00:00Z"})
    assert_names(response, "from")
