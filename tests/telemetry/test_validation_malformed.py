"""POST /api/v1/telemetry/: hostile or malformed values are a 400 naming the field, never a 5xx.

Wrong JSON types where a string is expected, dates that overflow when converted to UTC,
strings PostgreSQL cannot store (NUL) or UTF-8 cannot encode (lone surrogates), numbers too
large for a float. Bodies are sent as raw JSON text (escapes such as ``\\ud800`` cannot be
produced from a Python str by an encoder that writes UTF-8).
"""

from __future__ import annotations

import json

import pytest

from telemetry.models import MachineError, TelemetryReading
from tests.telemetry.conftest import reading_body

pytestmark = pytest.mark.django_db

URL = "/api/v1/telemetry/"
EDGE_DATES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]
WRONG_TYPES = [["online"], {"online": True}]


def post_raw(device, body) -> object:
    """Posts `body` as JSON text with every non-ASCII character escaped."""
    device.raise_request_exception = False
    return device.post(URL, data=json.dumps(body, ensure_ascii=True),
                       content_type="application/json")


def assert_rejected(response, *paths):
    assert response.status_code == 400, response.content
    assert set(response.json()) == set(paths), response.json()
    assert TelemetryReading.objects.count() == 0
    assert MachineError.objects.count() == 0


@pytest.mark.parametrize("value", WRONG_TYPES)
def test_status_of_a_wrong_json_type_is_named(personas, device, value):
    assert_rejected(post_raw(device, reading_body(personas.machine, status=value)), "status")


@pytest.mark.parametrize("value", WRONG_TYPES)
def test_error_severity_of_a_wrong_json_type_is_named(personas, device, value):
    body = reading_body(personas.machine, errors=[{"code": "E-1", "severity": value}])
    assert_rejected(post_raw(device, body), "errors[0].severity")


@pytest.mark.parametrize("value", [[1, 2], {"id": 1}])
def test_bunker_id_of_a_wrong_json_type_is_named(personas, device, value):
    body = reading_body(personas.machine)
    body["bunkers"] = [{"bunkerId": value, "currentLevel": 10}]
    assert_rejected(post_raw(device, body), "bunkers[0].bunkerId")


@pytest.mark.parametrize("value", EDGE_DATES)
def test_timestamp_at_the_edge_of_the_calendar_is_named(personas, device, value):
    body = reading_body(personas.machine)
    body["timestamp"] = value
    assert_rejected(post_raw(device, body), "timestamp")


@pytest.mark.parametrize("value", EDGE_DATES)
def test_last_sale_and_occurred_at_at_the_edge_of_the_calendar_are_named(personas, device, value):
    body = reading_body(personas.machine, lastSale=value,
                        errors=[{"code": "E-1", "occurredAt": value}])
    assert_rejected(post_raw(device, body), "lastSale", "errors[0].occurredAt")


@pytest.mark.parametrize("text", ["E\x00", "E\ud800", "\udfff"])
def test_error_strings_postgresql_cannot_store_are_named(personas, device, text):
    body = reading_body(personas.machine, errors=[{"code": text, "message": f"boom {text}"}])
    assert_rejected(post_raw(device, body), "errors[0].code", "errors[0].message")


@pytest.mark.parametrize("name", ["hum\x00idity", "hum\ud800idity"])
def test_an_unknown_field_with_an_unencodable_name_is_named(personas, device, name):
    body = reading_body(personas.machine, **{name: 1})
    response = post_raw(device, body)
    assert response.status_code == 400, response.content
    [path] = response.json()
    assert path.startswith("hum") and path.endswith("idity")
    assert TelemetryReading.objects.count() == 0


@pytest.mark.parametrize("field", ["temperature", "humidity", "uptime"])
def test_an_integer_too_large_for_a_float_is_named(personas, device, field):
    body = json.dumps(reading_body(personas.machine, **{field: 7})).replace(
        f'"{field}": 7', f'"{field}": {"9" * 400}')
    device.raise_request_exception = False
    response = device.post(URL, data=body, content_type="application/json")
    assert_rejected(response, field)


def test_a_level_too_large_for_a_float_is_named(personas, device):
    body = reading_body(personas.machine, bunkers={personas.coffee: 7})
    text = json.dumps(body).replace('"currentLevel": 7', f'"currentLevel": {"9" * 400}.5')
    device.raise_request_exception = False
    response = device.post(URL, data=text, content_type="application/json")
    assert_rejected(response, "bunkers[0].currentLevel")


@pytest.mark.parametrize("opening", ["[", '{"machineId":'])
def test_a_body_nested_100000_deep_is_a_400(personas, device, opening):
    closing = "]" if opening == "[" else "}"
    body = opening * 100_000 + "1" + closing * 100_000
    device.raise_request_exception = False
    response = device.post(URL, data=body, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert "nested too deeply" in response.json()["detail"]
    assert TelemetryReading.objects.count() == 0
