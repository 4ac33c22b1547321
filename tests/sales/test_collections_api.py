"""Recording a cash collection over REST: counted vs expected, the collection task closed,
the estimate starting over; who may, scoped to the machine's organization; 400s naming the
field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from machines.models import Organization, Task, TaskKind, TaskStatus
from notifications.models import Notification
from sales.ingest import ingest_vends
from sales.models import CashCollection
from sales.vends import VendIn
from tests.conftest import client_for
from tests.factories import make_task, make_user
from tests.telemetry.conftest import iso

pytestmark = pytest.mark.django_db


def collections_url(machine) -> str:
    return f"/api/v1/machines/{machine.pk}/collections/"


def cash_url(machine) -> str:
    return f"/api/v1/machines/{machine.pk}/cash/"


def sell(machine, *prices: int, at: datetime | None = None, method: str = "cash",
         prefix: str = "t") -> None:
    at = at or timezone.now() - timedelta(minutes=5)
    ingest_vends(machine=machine, vends=[VendIn(f"{prefix}-{i}", "1", price, method, "", at)
                                         for i, price in enumerate(prices)])


@pytest.fixture
def open_task(personas):
    """The collection task a full cash box opened for the responsible operator."""
    Organization.objects.filter(pk=personas.acme.pk).update(cash_collection_threshold=30_000)
    personas.machine.organization.refresh_from_db()
    sell(personas.machine, 15_000, 15_000, 12_000)
    return Task.objects.get(kind=TaskKind.COLLECTION, machine=personas.machine)


def test_the_operator_records_the_count_and_sees_it_against_the_expected(personas, open_task):
    response = client_for(personas.operator).post(collections_url(personas.machine),
                                                  {"amount": 40_000, "notes": "a torn note"},
                                                  format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["amount"], body["expected"], body["difference"]) == (40_000, 42_000, -2_000)
    assert (body["expectedSource"], body["taskId"], body["notes"]) == (
        "vends", str(open_task.pk), "a torn note")
    assert (body["collectedBy"], body["periodFrom"]) == (personas.operator.pk, None)
    assert body["collectedAt"].endswith("Z")


def test_recording_closes_the_task_with_counted_vs_expected(personas, open_task):
    client_for(personas.operator).post(collections_url(personas.machine), {"amount": 42_500},
                                       format="json")
    open_task.refresh_from_db()
    assert open_task.status == TaskStatus.DONE and open_task.completed_at is not None
    assert open_task.notes == "Counted 42500, expected 42000: a difference of +500."
    managers_told = Notification.objects.filter(recipient=personas.manager,
                                                title_key="task_done.title")
    assert managers_told.count() == 1


def test_the_estimate_starts_over_after_a_collection(personas, open_task):
    client = client_for(personas.operator)
    collected = client.post(collections_url(personas.machine), {"amount": 42_000},
                            format="json").json()
    body = client.get(cash_url(personas.machine)).json()
    assert (body["expected"], body["since"], body["lastCollectionId"]) == (
        0, collected["collectedAt"], collected["id"])
    assert body["openTaskId"] is None and body["overThreshold"] is False
    sell(personas.machine, 9_000, at=timezone.now(), prefix="later")
    assert client.get(cash_url(personas.machine)).json()["expected"] == 9_000


def test_the_cash_estimate_answers_for_any_member(personas, open_task):
    body = client_for(personas.viewer).get(cash_url(personas.machine)).json()
    assert body == {
        "machineId": str(personas.machine.pk), "since": None, "lastCollectionId": None,
        "expected": 42_000, "source": "vends", "vendCash": 42_000, "auditCash": None,
        "auditedFrom": None, "auditedTo": None, "threshold": 30_000, "overThreshold": True,
        "openTaskId": str(open_task.pk)}


def test_a_manager_records_without_a_task(personas):
    sell(personas.machine, 15_000)
    response = client_for(personas.manager).post(collections_url(personas.machine),
                                                 {"amount": 15_000}, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["difference"], response.json()["taskId"]) == (0, None)


def test_a_collection_in_the_past_expects_only_the_cash_until_then(personas):
    now = timezone.now()
    sell(personas.machine, 10_000, at=now - timedelta(hours=3), prefix="early")
    sell(personas.machine, 20_000, at=now - timedelta(minutes=30), prefix="late")
    response = client_for(personas.manager).post(collections_url(personas.machine), {
        "amount": 10_000, "collectedAt": iso(now - timedelta(hours=1))}, format="json")
    assert response.json()["expected"] == 10_000
    assert client_for(personas.manager).get(cash_url(personas.machine)).json()["expected"] \
        == 20_000


def test_collections_are_listed_newest_first_and_paginated(personas):
    client = client_for(personas.manager)
    now = timezone.now()
    for hours in (5, 3, 1):
        client.post(collections_url(personas.machine),
                    {"amount": hours, "collectedAt": iso(now - timedelta(hours=hours))},
                    format="json")
    body = client.get(collections_url(personas.machine) + "?page_size=2").json()
    assert body["count"] == 3 and body["next"]
    assert [row["amount"] for row in body["results"]] == [1, 3]
    assert body["results"][0]["periodFrom"] == body["results"][1]["collectedAt"]


# -- who may --


def test_a_viewer_may_not_record(personas, open_task):
    response = client_for(personas.viewer).post(collections_url(personas.machine),
                                                {"amount": 1}, format="json")
    assert response.status_code == 403
    assert not CashCollection.objects.exists()


def test_an_operator_without_the_task_may_not_record(personas, open_task):
    from machines.models import Role

    other = make_user("acme-operator-2", organization=personas.acme, role=Role.OPERATOR)
    response = client_for(other).post(collections_url(personas.machine), {"amount": 1},
                                      format="json")
    assert response.status_code == 403


def test_the_operator_may_not_record_once_the_task_is_closed(personas, open_task):
    Task.objects.filter(pk=open_task.pk).update(status=TaskStatus.DONE)
    response = client_for(personas.operator).post(collections_url(personas.machine),
                                                  {"amount": 1}, format="json")
    assert response.status_code == 403


def test_an_operator_with_a_manual_collection_task_may_record(personas):
    task = make_task(personas.machine, kind=TaskKind.COLLECTION, assignee=personas.operator,
                     created_by=personas.manager)
    response = client_for(personas.operator).post(collections_url(personas.machine),
                                                  {"amount": 0}, format="json")
    assert response.status_code == 201
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE and task.notes == ""  # a person's notes stay


def test_another_organization_sees_nothing(personas, open_task):
    stranger = client_for(personas.stranger)
    for url in (collections_url(personas.machine), cash_url(personas.machine)):
        assert stranger.get(url).status_code == 404
    assert stranger.post(collections_url(personas.machine), {"amount": 1},
                         format="json").status_code == 404
    assert not CashCollection.objects.exists()


def test_the_other_organization_records_on_its_own_machine(personas):
    client = client_for(personas.stranger)
    sell(personas.rival_machine, 7_000)
    response = client.post(collections_url(personas.rival_machine), {"amount": 7_000},
                           format="json")
    assert response.status_code == 201 and response.json()["expected"] == 7_000
    assert client_for(personas.manager).get(
        collections_url(personas.rival_machine)).status_code == 404
    assert client_for(personas.manager).get(
        collections_url(personas.machine)).json()["count"] == 0


def test_anonymous_is_refused(personas, api_client):
    assert api_client.get(cash_url(personas.machine)).status_code == 401


# -- bad input --


@pytest.mark.parametrize("body", [
    {}, {"amount": "abc"}, {"amount": -1}, {"amount": 1.5}, {"amount": True},
    {"amount": "100"}, {"amount": None}, {"amount": 10**16},
])
def test_a_bad_amount_is_a_400_naming_it(personas, body):
    response = client_for(personas.manager).post(collections_url(personas.machine), body,
                                                 format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["amount"]


@pytest.mark.parametrize("collected_at", ["yesterday", "2026-13-01T00:00:00Z"])
def test_an_unreadable_time_is_a_400_naming_it(personas, collected_at):
    response = client_for(personas.manager).post(collections_url(personas.machine), {
        "amount": 1, "collectedAt": collected_at}, format="json")
    assert response.status_code == 400 and list(response.json()) == ["collectedAt"]


def test_a_collection_in_the_future_is_a_400(personas):
    at = datetime.now(UTC) + timedelta(days=1)
    response = client_for(personas.manager).post(collections_url(personas.machine), {
        "amount": 1, "collectedAt": iso(at)}, format="json")
    assert response.status_code == 400 and list(response.json()) == ["collectedAt"]


def test_a_collection_before_the_last_one_is_a_400(personas):
    client = client_for(personas.manager)
    now = timezone.now()
    assert client.post(collections_url(personas.machine), {"amount": 1}, format="json") \
        .status_code == 201
    response = client.post(collections_url(personas.machine), {
        "amount": 1, "collectedAt": iso(now - timedelta(hours=1))}, format="json")
    assert response.status_code == 400 and list(response.json()) == ["collectedAt"]
    assert CashCollection.objects.count() == 1


def test_notes_longer_than_allowed_are_a_400(personas):
    response = client_for(personas.manager).post(collections_url(personas.machine), {
        "amount": 1, "notes": "x" * 1001}, format="json")
    assert response.status_code == 400 and list(response.json()) == ["notes"]


def test_zero_is_a_count(personas):
    response = client_for(personas.manager).post(collections_url(personas.machine),
                                                 {"amount": 0}, format="json")
    assert response.status_code == 201 and response.json()["amount"] == 0
