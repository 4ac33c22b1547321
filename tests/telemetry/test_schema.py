"""The OpenAPI schema documents the telemetry endpoints, the batch limit and the device auth."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from telemetry.serializers import (
    BUNKER_FIELDS,
    ERROR_FIELDS,
    READING_FIELDS,
    BunkerLevelInSerializer,
    MachineErrorInSerializer,
    TelemetryReadingInSerializer,
)


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def test_ingest_endpoint_documents_the_batch_limit_and_device_auth(schema, settings):
    operation = schema["paths"]["/api/v1/telemetry/"]["post"]
    assert operation["x-batch-limit"] == 500
    assert "500 readings" in operation["description"]
    assert operation["security"] == [{"deviceKey": []}]
    assert schema["components"]["securitySchemes"]["deviceKey"]["in"] == "header"
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    one_of = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]["oneOf"]
    assert one_of[1]["type"] == "array"
    assert set(operation["responses"]) >= {"200", "201", "400", "401", "403"}


def test_history_endpoint_is_documented(schema):
    path = "/api/v1/machines/{machine_id}/telemetry/history/"
    operation = schema["paths"][path]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"from", "to", "bucket"}


def test_documented_input_shapes_match_the_validator():
    assert set(TelemetryReadingInSerializer().fields) == READING_FIELDS
    assert set(MachineErrorInSerializer().fields) == ERROR_FIELDS
    assert set(BunkerLevelInSerializer().fields) <= BUNKER_FIELDS
