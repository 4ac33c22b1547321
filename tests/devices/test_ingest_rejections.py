"""What the worker refuses: answered on the device's `ack` topic with the HTTP endpoint's
status and field errors, nothing stored, and still acknowledged to the broker (a
redelivery would be refused the same way)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sales.models import Vend
from telemetry.device_keys import issue_device_key, revoke_device_keys
from telemetry.models import TelemetryReading
from tests.devices.ingest_support import devices_of, worker_thread
from tests.sales.conftest import vend_body
from tests.telemetry.conftest import device_client, reading_body

pytestmark = [pytest.mark.timeout(60), pytest.mark.django_db(transaction=True)]


@pytest.fixture
def keys(personas):
    return {"acme": issue_device_key(machine=personas.machine).plaintext,
            "rival": issue_device_key(machine=personas.rival_machine).plaintext}


def test_a_malformed_reading_gets_the_http_field_errors_and_nothing_is_stored(
        personas, mqtt_broker, keys):
    bad = reading_body(personas.machine, humidity=140, status="melting",
                       bunkers={personas.coffee: -5}, extra_field=1)
    batch = [reading_body(personas.machine), bad]
    http = device_client(keys["acme"]).post("/api/v1/telemetry/", batch, format="json")
    assert http.status_code == 400
    with devices_of(mqtt_broker, personas.machine) as (device,), \
            worker_thread(mqtt_broker.worker_url):
        device.publish("telemetry", batch, correlation="bad-1")
        ack = device.next_ack()
        device.publish("telemetry", b"{not json", correlation="bad-2")
        not_json = device.next_ack()
        device.publish("telemetry", [reading_body(personas.machine)] * 501)
        too_many = device.next_ack()
        device.publish("telemetry", [])
        empty = device.next_ack()
    assert ack == {"ok": False, "status": 400, "errors": http.json(), "kind": "telemetry",
                   "correlation": "bad-1"}
    assert {"[1].humidity", "[1].status", "[1].bunkers[0].currentLevel",
            "[1].extra_field"} <= set(ack["errors"])
    assert not_json["status"] == 400 and "JSON parse error" in not_json["errors"][
        "non_field_errors"][0]
    assert too_many["errors"] == {"non_field_errors": ["At most 500 readings per request."]}
    assert empty["errors"] == {"non_field_errors": ["Empty batch: send 1 or more readings."]}
    assert not TelemetryReading.objects.exists()


def test_a_malformed_vend_names_its_field(personas, mqtt_broker, keys):
    body = vend_body(personas.machine, price=-1, method="barter")
    with devices_of(mqtt_broker, personas.machine) as (device,), \
            worker_thread(mqtt_broker.worker_url):
        device.publish("sales", body)
        ack = device.next_ack()
    assert ack["status"] == 400 and set(ack["errors"]) == {"price", "paymentMethod"}
    assert not Vend.objects.exists()


def test_a_document_naming_another_organizations_machine_is_refused(personas, mqtt_broker,
                                                                    keys):
    """The rival's device may only publish under its own serial (the broker), and a body
    naming acme's machine on that topic is the 403 of HTTP: nothing reaches acme."""
    with devices_of(mqtt_broker, personas.rival_machine) as (rival,), \
            worker_thread(mqtt_broker.worker_url):
        rival.publish("telemetry", reading_body(personas.machine))
        reading = rival.next_ack()
        rival.publish("sales", vend_body(personas.machine, "tx-1"))
        vend = rival.next_ack()
    assert reading["status"] == 403 and list(reading["errors"]) == ["machineId"]
    assert vend["status"] == 403 and list(vend["errors"]) == ["machineId"]
    assert not TelemetryReading.objects.exists() and not Vend.objects.exists()


def test_a_machine_whose_key_was_revoked_is_answered_404(personas, mqtt_broker, keys):
    with devices_of(mqtt_broker, personas.machine) as (device,):
        revoke_device_keys(keys=personas.machine.device_keys.all())
        with worker_thread(mqtt_broker.worker_url):
            device.publish("telemetry", reading_body(
                personas.machine, at=datetime.now(UTC) - timedelta(seconds=1)))
            ack = device.next_ack()
    assert ack["ok"] is False and ack["status"] == 404
    assert personas.machine.serial_number in ack["errors"]["non_field_errors"][0]
    assert not TelemetryReading.objects.exists()
