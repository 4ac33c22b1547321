"""POST /api/v1/sales/: device-authenticated vends, one or a batch, idempotent per
(machine, transactionId), strict 400s naming the field, all-or-nothing, committed before
the ack."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sales.models import Vend
from telemetry.device_keys import issue_device_key
from tests.conftest import client_for
from tests.sales.conftest import device_client, post_vends, vend_body

pytestmark = pytest.mark.django_db


def test_one_vend_is_stored_with_the_product_of_its_selection(personas, planogram, products,
                                                             device):
    response = post_vends(device, vend_body(personas.machine, provider="Payme",
                                            method="mobile"))
    assert response.status_code == 201
    assert response.json() == {"machineId": str(personas.machine.pk), "received": 1,
                               "accepted": 1, "duplicates": 0}
    vend = Vend.objects.get()
    assert (vend.product, vend.price, vend.payment_method, vend.provider) == (
        products["cappuccino"], 15000, "mobile", "Payme")


def test_a_batch_is_stored_and_a_retry_stores_nothing_twice(personas, planogram, device):
    batch = [vend_body(personas.machine, f"t-{i}", selection="A3", price=12000)
             for i in range(5)]
    assert post_vends(device, batch).json()["accepted"] == 5
    retry = post_vends(device, batch + [vend_body(personas.machine, "t-5")])
    assert retry.status_code == 201
    assert (retry.json()["accepted"], retry.json()["duplicates"]) == (1, 5)
    again = post_vends(device, batch)
    assert again.status_code == 200 and again.json()["duplicates"] == 5
    assert Vend.objects.count() == 6


def test_a_transaction_repeated_in_one_batch_counts_once(personas, planogram, device):
    body = [vend_body(personas.machine, "t-1"), vend_body(personas.machine, "t-1")]
    assert post_vends(device, body).json() == {"machineId": str(personas.machine.pk),
                                               "received": 2, "accepted": 1, "duplicates": 1}


def test_same_transaction_id_on_two_machines_is_two_vends(personas, planogram, device):
    rival = device_client(issue_device_key(machine=personas.rival_machine).plaintext)
    assert post_vends(device, vend_body(personas.machine, "42")).json()["accepted"] == 1
    assert post_vends(rival, vend_body(personas.rival_machine, "42")).json()["accepted"] == 1


def test_a_selection_not_in_the_planogram_still_counts(personas, device):
    assert post_vends(device, vend_body(personas.machine, selection="99")).status_code == 201
    assert Vend.objects.get().product is None


@pytest.mark.parametrize(("mutate", "path"), [
    (lambda v: v.update(paymentMethod="bitcoin"), "[3].paymentMethod"),
    (lambda v: v.pop("transactionId"), "[3].transactionId"),
    (lambda v: v.update(price=1.5), "[3].price"),
    (lambda v: v.update(price=-1), "[3].price"),
    (lambda v: v.update(price="15000"), "[3].price"),
    (lambda v: v.update(timestamp="2026-03-01T09:00:00"), "[3].timestamp"),
    (lambda v: v.update(timestamp="2999-01-01T00:00:00Z"), "[3].timestamp"),
    (lambda v: v.update(selection=""), "[3].selection"),
    (lambda v: v.update(selection="x" * 17), "[3].selection"),
    (lambda v: v.update(machineId="nope"), "[3].machineId"),
    (lambda v: v.update(provider=["Payme"]), "[3].provider"),
    (lambda v: v.update(transactionId="a\x00b"), "[3].transactionId"),
    (lambda v: v.update(color="red"), "[3].color"),
])
def test_a_bad_field_is_400_naming_it_and_nothing_is_stored(personas, planogram, device,
                                                            mutate, path):
    batch = [vend_body(personas.machine, f"t-{i}") for i in range(5)]
    mutate(batch[3])
    response = post_vends(device, batch)
    assert response.status_code == 400
    assert path in response.json(), response.json()
    assert not Vend.objects.exists()


def test_a_single_vend_names_its_field_without_index(personas, device):
    response = post_vends(device, vend_body(personas.machine, method="barter"))
    assert response.status_code == 400 and "paymentMethod" in response.json()


@pytest.mark.parametrize("body", [[], {"x": 1}, "vend", 7])
def test_bodies_that_are_not_vends_are_400(personas, device, body):
    response = post_vends(device, body)
    assert response.status_code == 400
    assert not Vend.objects.exists()


def test_a_batch_over_the_limit_is_400(personas, device, settings):
    settings.TELEMETRY_MAX_BATCH = 3
    response = post_vends(device, [vend_body(personas.machine, f"t-{i}") for i in range(4)])
    assert response.status_code == 400 and "non_field_errors" in response.json()


def test_another_machines_vend_is_403_and_nothing_is_stored(personas, device):
    batch = [vend_body(personas.machine, "t-1"), vend_body(personas.rival_machine, "t-2")]
    assert post_vends(device, batch).status_code == 403
    assert not Vend.objects.exists()


def test_without_a_device_key_it_is_401_and_a_users_token_is_not_one(personas, api_client):
    assert post_vends(api_client, vend_body(personas.machine)).status_code == 401
    assert post_vends(client_for(personas.manager),
                      vend_body(personas.machine)).status_code in (401, 403)
    assert not Vend.objects.exists()


def test_lastsale_follows_vends(personas, planogram, device):
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    post_vends(device, [vend_body(personas.machine, "a", at=at),
                        vend_body(personas.machine, "b", at=at - timedelta(minutes=5))])
    personas.machine.refresh_from_db()
    assert personas.machine.last_sale_at == at
    post_vends(device, vend_body(personas.machine, "c", at=at - timedelta(hours=1)))
    personas.machine.refresh_from_db()
    assert personas.machine.last_sale_at == at  # a late vend does not move it back
    telemetry = client_for(personas.viewer).get(
        f"/api/v1/machines/{personas.machine.pk}/telemetry").json()
    assert telemetry["lastSale"] == "2026-03-01T09:30:00Z"


@pytest.mark.django_db(transaction=True)
def test_the_ack_comes_after_commit(personas, planogram, device_key):
    from django.db import connection

    response = post_vends(device_client(device_key), vend_body(personas.machine))
    assert response.status_code == 201
    assert connection.in_atomic_block is False
    # Visible from outside the request's transaction: it committed.
    assert Vend.objects.filter(transaction_id="t-1").exists()


def test_a_failure_after_the_insert_leaves_nothing_half_stored(personas, planogram, device,
                                                               monkeypatch):
    from sales import ingest
    from sales.models import DailySales

    def broken(*args, **kwargs):
        raise RuntimeError("rollup failed")

    monkeypatch.setattr(ingest, "_add_to_rollups", broken)
    device.raise_request_exception = False
    response = post_vends(device, [vend_body(personas.machine, "a"),
                                   vend_body(personas.machine, "b")])
    assert response.status_code == 500
    assert not Vend.objects.exists() and not DailySales.objects.exists()
    personas.coffee.refresh_from_db()
    assert personas.coffee.expected_level_grams is None  # the drain rolled back too
