"""An accepted POST /api/v1/sales/ emits one `machine:sale` to `machine:{id}` (the latest new
vend, with the count and revenue of the request) and one `sales:today` to `org:{id}`, after
commit, matching their schemas; a retry emits nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from realtime.events import EVENT_SCHEMAS, MACHINE_SALE, SALES_TODAY
from tests.realtime.test_events import assert_matches
from tests.sales.conftest import post_vends, vend_body

pytestmark = pytest.mark.django_db


def test_a_batch_emits_one_sale_and_one_revenue_update_after_commit(personas, planogram,
                                                                     products, device, sent):
    now = timezone.now().replace(microsecond=0)
    body = [vend_body(personas.machine, "a", at=now - timedelta(minutes=2)),
            vend_body(personas.machine, "b", at=now, selection="A3", price=12000,
                      method="mobile", provider="Click"),
            vend_body(personas.machine, "c", at=now - timedelta(minutes=1))]
    with sent.capture():
        assert post_vends(device, body).status_code == 201
    [sale] = sent.of(MACHINE_SALE, f"machine:{personas.machine.pk}")
    assert_matches(sale, EVENT_SCHEMAS[MACHINE_SALE])
    assert sale == {
        "machineId": str(personas.machine.pk), "selection": "A3",
        "productId": str(products["snickers"].pk), "productName": "Snickers",
        "price": 12000, "paymentMethod": "mobile",
        "timestamp": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "count": 3, "revenue": 42000,
    }
    [today] = sent.of(SALES_TODAY, f"org:{personas.acme.pk}")
    assert_matches(today, EVENT_SCHEMAS[SALES_TODAY])
    assert (today["organizationId"], today["revenue"], today["vends"]) == (
        str(personas.acme.pk), 42000, 3)
    assert today["date"] == timezone.localtime(timezone.now()).date().isoformat()
    assert sent.rooms(MACHINE_SALE) == [f"machine:{personas.machine.pk}"]
    assert sent.rooms(SALES_TODAY) == [f"org:{personas.acme.pk}"]


def test_nothing_is_sent_before_the_commit(personas, planogram, device, sent):
    post_vends(device, vend_body(personas.machine))  # on-commit callbacks not run
    assert sent.records == []


def test_a_retry_emits_nothing(personas, planogram, device, sent):
    post_vends(device, vend_body(personas.machine))
    with sent.capture():
        assert post_vends(device, vend_body(personas.machine)).status_code == 200
    assert sent.records == []


def test_a_rejected_batch_emits_nothing(personas, device, sent):
    with sent.capture():
        post_vends(device, [vend_body(personas.machine), vend_body(personas.machine, price=-1)])
    assert sent.records == []


def test_revenue_today_counts_only_today(personas, planogram, device, sent):
    yesterday = datetime.now(UTC) - timedelta(days=1, hours=1)
    with sent.capture():
        post_vends(device, [vend_body(personas.machine, "old", at=yesterday),
                            vend_body(personas.machine, "now")])
    [today] = sent.of(SALES_TODAY)
    assert (today["revenue"], today["vends"]) == (15000, 1)


def test_a_sale_without_a_product_has_null_product(personas, device, sent):
    with sent.capture():
        post_vends(device, vend_body(personas.machine, selection="55"))
    [sale] = sent.of(MACHINE_SALE)
    assert sale["productId"] is None and sale["productName"] is None
