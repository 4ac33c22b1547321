"""GET /api/v1/machines/{id}/telemetry/history: min/avg/max per bucket, computed in SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from telemetry.history import auto_bucket, parse_bucket
from tests.conftest import client_for
from tests.factories import make_reading

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def url(machine, **params) -> str:
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"/api/v1/machines/{machine.pk}/telemetry/history?{query}"


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


@pytest.fixture
def readings(personas):
    """Two 5-minute buckets: 09:00 (three readings) and 09:05 (one); one outside the range."""
    coffee, milk = str(personas.coffee.pk), str(personas.milk.pk)
    rows = [
        (T0, 20.0, 40.0, {coffee: 900, milk: 1500}),
        (T0 + timedelta(minutes=1), 22.0, 50.0, {coffee: 800}),
        (T0 + timedelta(minutes=4, seconds=59), 27.0, None, {coffee: 700}),
        (T0 + timedelta(minutes=5), 30.0, 60.0, {coffee: 600, milk: 1400}),
        (T0 + timedelta(hours=2), 99.0, 99.0, {}),
    ]
    for at, temperature, humidity, levels in rows:
        make_reading(personas.machine, timestamp=at, temperature=temperature, humidity=humidity,
                     bunker_levels=[{"bunkerId": b, "currentLevel": level}
                                    for b, level in levels.items()])
    make_reading(personas.rival_machine, timestamp=T0, temperature=-5.0)


def test_readings_are_downsampled_per_bucket(personas, readings):
    response = client_for(personas.viewer).get(
        url(personas.machine, **{"from": iso(T0), "to": iso(T0 + timedelta(hours=1)),
                                 "bucket": "5m"}))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["bucket"] == 300 and body["machineId"] == str(personas.machine.pk)
    first, second = body["points"]
    assert first["timestamp"] == "2026-03-01T09:00:00Z" and first["count"] == 3
    assert first["temperature"] == {"min": 20.0, "avg": 23.0, "max": 27.0}
    assert first["humidity"] == {"min": 40.0, "avg": 45.0, "max": 50.0}
    assert first["bunkers"][str(personas.coffee.pk)] == {"min": 700, "avg": 800, "max": 900}
    assert first["bunkers"][str(personas.milk.pk)] == {"min": 1500, "avg": 1500, "max": 1500}
    assert second["timestamp"] == "2026-03-01T09:05:00Z" and second["count"] == 1
    assert second["temperature"] == {"min": 30.0, "avg": 30.0, "max": 30.0}
    assert {b["ingredientName"] for b in body["bunkers"]} == {"Coffee", "Milk powder"}


def test_the_range_is_start_inclusive_end_exclusive(personas, readings):
    body = client_for(personas.viewer).get(url(
        personas.machine, **{"from": iso(T0 + timedelta(minutes=1)),
                             "to": iso(T0 + timedelta(minutes=5)), "bucket": "1h"})).json()
    [point] = body["points"]
    assert point["count"] == 2


def test_default_range_is_the_last_day_with_an_automatic_bucket(personas):
    recent = datetime.now(UTC) - timedelta(minutes=30)
    make_reading(personas.machine, timestamp=recent, temperature=25.0)
    body = client_for(personas.viewer).get(url(personas.machine)).json()
    assert body["bucket"] == 300
    assert sum(point["count"] for point in body["points"]) == 1


def test_another_organizations_machine_is_not_found(personas, readings):
    response = client_for(personas.stranger).get(url(personas.machine))
    assert response.status_code == 404


def test_anonymous_users_are_refused(personas, api_client):
    assert api_client.get(url(personas.machine)).status_code == 401


@pytest.mark.parametrize("params, field", [
    ({"bucket": "soon"}, "bucket"),
    ({"bucket": "1s"}, "bucket"),
    ({"from": "yesterday"}, "from"),
    ({"from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, "to"),
    ({"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z", "bucket": "1m"}, "bucket"),
])
def test_bad_parameters_are_named(personas, params, field):
    response = client_for(personas.viewer).get(url(personas.machine, **params))
    assert response.status_code == 400
    assert field in response.json()


def test_the_machine_routes_do_not_swallow_the_history_path(personas):
    response = client_for(personas.viewer).get(
        f"/api/v1/machines/{personas.machine.pk}/telemetry/history/")
    assert response.status_code == 200
    assert "points" in response.json()


@pytest.mark.parametrize("text, seconds", [("300", 300), ("30s", 30), ("5m", 300),
                                           ("2h", 7200), ("1d", 86400)])
def test_bucket_syntax(text, seconds):
    assert parse_bucket(text) == seconds


def test_auto_bucket_keeps_the_number_of_points_small():
    assert auto_bucket(T0, T0 + timedelta(hours=1)) == 60
    assert auto_bucket(T0, T0 + timedelta(days=1)) == 300
    assert auto_bucket(T0, T0 + timedelta(days=30)) == 3 * 3600
