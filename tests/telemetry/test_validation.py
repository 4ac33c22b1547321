"""POST /api/v1/telemetry/: strict validation, each bad field named; nothing stored on 400."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from telemetry.models import TelemetryReading
from tests.telemetry.conftest import iso, reading_body

pytestmark = pytest.mark.django_db

URL = "/api/v1/telemetry/"


def post(device, body):
    return device.post(URL, body, format="json")


def assert_rejected(response, *paths):
    assert response.status_code == 400, response.content
    assert set(response.json()) == set(paths), response.json()
    assert TelemetryReading.objects.count() == 0


def test_a_valid_reading_is_accepted(personas, device):
    response = post(device, reading_body(personas.machine, bunkers={personas.coffee: 500}))
    assert response.status_code == 201, response.content


def test_unknown_status_is_named(personas, device):
    response = post(device, reading_body(personas.machine, status="sleeping"))
    assert_rejected(response, "status")
    assert "sleeping" in response.json()["status"][0]


@pytest.mark.parametrize("humidity", [-0.1, 100.5, "wet", True])
def test_humidity_outside_0_100_is_named(personas, device, humidity):
    assert_rejected(post(device, reading_body(personas.machine, humidity=humidity)), "humidity")


@pytest.mark.parametrize("temperature", [-100, 500, "hot"])
def test_implausible_temperature_is_named(personas, device, temperature):
    assert_rejected(post(device, reading_body(personas.machine, temperature=temperature)),
                    "temperature")


def test_a_number_overflowing_to_infinity_is_named(personas, device):
    body = json.dumps(reading_body(personas.machine, temperature=12345.0))
    body = body.replace("12345.0", "1e400")  # parses as float("inf")
    response = device.post(URL, data=body, content_type="application/json")
    assert_rejected(response, "temperature")


def test_bunker_of_another_machine_is_named(personas, device, django_assert_max_num_queries):
    rival_bunker = personas.rival_machine.bunkers.get()
    body = reading_body(personas.machine, bunkers={personas.coffee: 500, rival_bunker: 100})
    response = post(device, body)
    assert_rejected(response, "bunkers[1].bunkerId")
    assert response.json()["bunkers[1].bunkerId"] == ["Not a bunker of this machine."]


def test_level_above_capacity_is_named(personas, device):
    body = reading_body(personas.machine, bunkers={personas.coffee: 1001})
    assert_rejected(post(device, body), "bunkers[0].currentLevel")


def test_negative_level_and_missing_bunker_id_are_named(personas, device):
    body = reading_body(personas.machine)
    body["bunkers"] = [{"currentLevel": -1}]
    assert_rejected(post(device, body), "bunkers[0].bunkerId", "bunkers[0].currentLevel")


def test_timestamp_too_far_in_the_future_is_named(personas, device):
    at = datetime.now(UTC) + timedelta(minutes=10)
    response = post(device, reading_body(personas.machine, at=at))
    assert_rejected(response, "timestamp")
    assert "future" in response.json()["timestamp"][0]


def test_small_clock_skew_is_tolerated(personas, device):
    at = datetime.now(UTC) + timedelta(seconds=60)
    assert post(device, reading_body(personas.machine, at=at)).status_code == 201


def test_timestamp_older_than_retention_is_named(personas, device):
    at = datetime.now(UTC) - timedelta(days=400)
    assert_rejected(post(device, reading_body(personas.machine, at=at)), "timestamp")


@pytest.mark.parametrize("value", ["yesterday", "2026-03-01T09:00:00", 1700000000])
def test_timestamp_must_be_iso_8601_with_a_timezone(personas, device, value):
    body = reading_body(personas.machine)
    body["timestamp"] = value
    assert_rejected(post(device, body), "timestamp")


def test_required_fields_are_named(personas, device):
    assert_rejected(post(device, {"temperature": 20}), "machineId", "timestamp", "status")


def test_unknown_fields_are_named(personas, device):
    body = reading_body(personas.machine, humidty=50)
    assert_rejected(post(device, body), "humidty")


def test_derived_bunker_fields_of_the_machine_telemetry_shape_are_accepted(personas, device):
    body = reading_body(personas.machine)
    body["bunkers"] = [{"bunkerId": str(personas.coffee.pk), "currentLevel": 500,
                        "ingredientId": "x", "ingredientName": "Coffee", "maxLevel": 1000,
                        "percentage": 50.0, "lowLevelAlert": False}]
    assert post(device, body).status_code == 201


def test_bad_errors_are_named(personas, device):
    body = reading_body(personas.machine, errors=[
        {"code": "", "severity": "bad"},
        {"code": "E-1", "severity": "warning", "occurredAt": "nope"},
    ])
    assert_rejected(post(device, body), "errors[0].code", "errors[0].severity",
                    "errors[1].occurredAt")


def test_every_bad_field_of_a_batch_is_named_with_its_index(personas, device):
    now = datetime.now(UTC)
    good = reading_body(personas.machine, at=now - timedelta(seconds=30))
    bad_status = reading_body(personas.machine, at=now - timedelta(seconds=20), status="?")
    bad_both = reading_body(personas.machine, at=now - timedelta(seconds=10), humidity=120,
                            bunkers={personas.coffee: 5000})
    response = post(device, [good, bad_status, bad_both])
    assert_rejected(response, "[1].status", "[2].humidity", "[2].bunkers[0].currentLevel")


def test_duplicate_timestamps_in_one_batch_are_named(personas, device):
    at = datetime.now(UTC) - timedelta(seconds=5)
    body = [reading_body(personas.machine, at=at), reading_body(personas.machine, at=at)]
    assert_rejected(post(device, body), "[1].timestamp")


def test_batch_over_the_limit_is_refused(personas, device, settings):
    settings.TELEMETRY_MAX_BATCH = 3
    now = datetime.now(UTC)
    body = [reading_body(personas.machine, at=now - timedelta(seconds=i)) for i in range(4)]
    response = post(device, body)
    assert_rejected(response, "non_field_errors")
    assert "At most 3" in response.json()["non_field_errors"][0]


@pytest.mark.parametrize("body", [[], "reading", 42])
def test_empty_or_shapeless_bodies_are_refused(personas, device, body):
    assert_rejected(post(device, body), "non_field_errors")


def test_malformed_json_is_a_400(personas, device):
    response = device.post(URL, data="{not json", content_type="application/json")
    assert response.status_code == 400


def test_malformed_machine_id_is_named(personas, device):
    body = reading_body(personas.machine)
    body["machineId"] = "not-a-uuid"
    assert_rejected(post(device, body), "machineId")


def test_reading_for_another_machine_is_refused(personas, device):
    response = post(device, reading_body(personas.rival_machine))
    assert response.status_code == 403
    assert str(personas.rival_machine.pk) in response.json()["detail"]
    assert TelemetryReading.objects.count() == 0


def test_one_foreign_reading_refuses_the_whole_batch(personas, device):
    now = datetime.now(UTC)
    body = [reading_body(personas.machine, at=now - timedelta(seconds=2)),
            reading_body(personas.rival_machine, at=now - timedelta(seconds=1))]
    assert post(device, body).status_code == 403
    assert TelemetryReading.objects.count() == 0


def test_unknown_machine_id_is_refused_as_foreign(personas, device):
    body = reading_body(personas.machine)
    body["machineId"] = str(uuid.uuid4())
    assert post(device, body).status_code == 403


def test_iso_helper_matches_javascript_to_iso_string():
    assert iso(datetime(2026, 3, 1, 9, 0, tzinfo=UTC)) == "2026-03-01T09:00:00Z"


def test_a_batch_wrong_everywhere_names_the_first_fifty_fields(personas, device):
    now = datetime.now(UTC)
    body = [reading_body(personas.machine, at=now - timedelta(seconds=i), status="?")
            for i in range(80)]
    response = post(device, body)
    assert response.status_code == 400
    errors = response.json()
    assert len(errors) == 51  # 50 fields + the summary
    assert "30 more invalid fields" in errors["non_field_errors"][0]
