"""GET /api/v1/machines/{id}/telemetry: the latest MachineTelemetry of one machine."""

from datetime import UTC, datetime

import pytest

from tests.conftest import client_for
from tests.factories import make_reading

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("suffix", ["telemetry", "telemetry/"])
def test_telemetry_is_served_with_or_without_trailing_slash(personas, suffix):
    make_reading(personas.machine, timestamp=datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    response = client_for(personas.viewer).get(f"/api/v1/machines/{personas.machine.pk}/{suffix}")
    assert response.status_code == 200
    body = response.json()
    assert body["machineId"] == str(personas.machine.pk)
    assert body["timestamp"] == "2026-03-01T09:00:00Z"
    assert body["temperature"] == 21.5
    assert len(body["bunkers"]) == 2


def test_telemetry_of_a_machine_without_readings_is_still_a_document(personas):
    body = (
        client_for(personas.viewer).get(f"/api/v1/machines/{personas.machine.pk}/telemetry").json()
    )
    assert body["temperature"] is None and body["uptime"] == 0


def test_telemetry_of_another_organizations_machine_is_not_found(personas):
    client = client_for(personas.stranger)
    assert client.get(f"/api/v1/machines/{personas.machine.pk}/telemetry").status_code == 404


def test_telemetry_requires_authentication(personas, api_client):
    assert api_client.get(f"/api/v1/machines/{personas.machine.pk}/telemetry").status_code == 401
