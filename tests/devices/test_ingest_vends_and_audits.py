"""Vends and audits published over MQTT are stored as `POST /api/v1/sales/` and
`POST /api/v1/audits/` store them (the same services), once: a redelivery or a resend is
answered as a duplicate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sales.models import AuditRecord, AuditSource, DailyMachineSales, Vend
from telemetry.device_keys import issue_device_key
from tests.devices.ingest_support import devices_of, worker_thread
from tests.sales import conftest as sales_fixtures
from tests.sales.conftest import fixture_text, vend_body

pytestmark = [pytest.mark.timeout(60), pytest.mark.django_db(transaction=True)]

# The sales tests' fixtures: a coffee machine with the DEX fixtures' serial, a planogram.
coffee_machine = sales_fixtures.coffee_machine
planogram = sales_fixtures.planogram
products = sales_fixtures.products


def test_a_published_vend_is_stored_with_its_product_and_counted_once(personas, planogram,
                                                                      mqtt_broker):
    issue_device_key(machine=personas.machine)
    at = datetime.now(UTC) - timedelta(seconds=30)
    body = vend_body(personas.machine, "tx-77", selection="1", price=15000, method="mobile",
                     provider="Payme", at=at)
    with devices_of(mqtt_broker, personas.machine) as (device,), \
            worker_thread(mqtt_broker.worker_url):
        device.publish("sales", body, correlation="v-1")
        first = device.next_ack()
        device.publish("sales", [body], correlation="v-1-retry")
        retry = device.next_ack()
    assert first == {"ok": True, "accepted": 1, "duplicates": 0, "kind": "sales",
                     "correlation": "v-1"}
    assert (retry["accepted"], retry["duplicates"]) == (0, 1)
    [vend] = Vend.objects.filter(machine=personas.machine)
    assert (vend.transaction_id, vend.price, vend.payment_method, vend.provider) == (
        "tx-77", 15000, "mobile", "Payme")
    assert vend.product.name == "Cappuccino"
    rollup = DailyMachineSales.objects.get(machine=personas.machine)
    assert (rollup.vends, rollup.revenue) == (1, 15000)


def test_a_published_audit_is_imported_once_as_the_devices(coffee_machine, mqtt_broker):
    issue_device_key(machine=coffee_machine)
    text = fixture_text("coffee_machine.dex")
    with devices_of(mqtt_broker, coffee_machine) as (device,), \
            worker_thread(mqtt_broker.worker_url):
        device.publish("audit", text.encode("latin-1"), correlation="dex-1")
        first = device.next_ack()
        device.publish("audit", text.encode("latin-1"), correlation="dex-2")
        again = device.next_ack()
    assert first == {"ok": True, "accepted": 1, "duplicates": 0, "kind": "audit",
                     "correlation": "dex-1"}
    assert (again["accepted"], again["duplicates"]) == (0, 1)
    record = AuditRecord.objects.get(machine=coffee_machine)
    assert record.source == AuditSource.DEVICE
    assert record.raw_text == text
    assert record.period["flags"] == ["first_audit"]


def test_an_unreadable_audit_is_answered_with_line_and_segment(coffee_machine, mqtt_broker):
    issue_device_key(machine=coffee_machine)
    with devices_of(mqtt_broker, coffee_machine) as (device,), \
            worker_thread(mqtt_broker.worker_url):
        device.publish("audit", b"DXS*1*VA*V0/6*1\r\nnot a segment")
        ack = device.next_ack()
        device.publish("audit", b"")
        empty = device.next_ack()
    assert ack["ok"] is False and ack["status"] == 400
    assert {"detail", "line", "segment"} <= set(ack["errors"])
    assert empty["ok"] is False and empty["status"] == 400
    assert not AuditRecord.objects.exists()
