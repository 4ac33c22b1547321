"""What an operator's phone board needs from a task: where the machine is, what to bring
and how much; and the Done column's recent-first pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from machines.models import TaskKind, TaskStatus
from realtime.events import TaskUpdatedEvent, task_event
from tests.conftest import client_for
from tests.factories import make_task
from tests.realtime.test_events import assert_matches

pytestmark = pytest.mark.django_db


def test_a_refill_task_says_where_and_how_many_grams_to_bring(personas):
    personas.machine.address = "Amir Temur 15, Tashkent"
    personas.machine.save()
    task = make_task(personas.machine, assignee=personas.operator, kind=TaskKind.REFILL,
                     bunker=personas.coffee)  # 800 g of 1000 g
    body = client_for(personas.operator).get(f"/api/v1/tasks/{task.pk}/").json()
    assert body["machineAddress"] == "Amir Temur 15, Tashkent"
    assert (body["machineLat"], body["machineLng"]) == (41.2995, 69.2401)
    assert body["bunker"] == str(personas.coffee.pk)
    assert body["ingredientName"] == "Coffee"
    assert body["refillGrams"] == 200


def test_a_task_without_a_bunker_has_nothing_to_bring(personas):
    task = make_task(personas.machine, assignee=personas.operator, kind=TaskKind.CLEANING)
    body = client_for(personas.operator).get(f"/api/v1/tasks/{task.pk}/").json()
    assert (body["bunker"], body["ingredientName"], body["refillGrams"]) == (None, None, None)


def test_the_task_updated_payload_carries_the_same_fields_and_matches_its_schema(personas):
    task = make_task(personas.machine, assignee=personas.operator, kind=TaskKind.REFILL,
                     bunker=personas.milk)
    payload = task_event(task)
    assert_matches(payload, TaskUpdatedEvent)
    assert payload["refillGrams"] == 500 and payload["ingredientName"] == "Milk powder"
    body = client_for(personas.operator).get(f"/api/v1/tasks/{task.pk}/").json()
    assert set(body) == set(payload)


def test_the_done_column_pages_back_by_completion_time(personas):
    now = timezone.now()
    done = [make_task(personas.machine, assignee=personas.operator, status=TaskStatus.DONE,
                      completed_at=now - timedelta(days=days), title=f"done {days}")
            for days in (0, 1, 2, 3)]
    client = client_for(personas.operator)
    since = (now - timedelta(hours=1)).isoformat()
    today = client.get("/api/v1/tasks/", {"status": "done", "completedSince": since}).json()
    assert [t["id"] for t in today["results"]] == [str(done[0].pk)]
    older = client.get("/api/v1/tasks/", {
        "status": "done", "completedBefore": since, "ordering": "-completed_at",
        "page_size": 2}).json()
    assert [t["title"] for t in older["results"]] == ["done 1", "done 2"]
    assert older["next"]


def test_a_bad_completion_time_is_a_400_naming_it(personas):
    response = client_for(personas.operator).get(
        "/api/v1/tasks/", {"completedBefore": "yesterday"})
    assert response.status_code == 400 and "completedBefore" in response.json()


def test_a_stranger_pages_no_done_tasks_of_another_organization(personas):
    make_task(personas.machine, assignee=personas.operator, status=TaskStatus.DONE,
              completed_at=timezone.now())
    body = client_for(personas.stranger).get(
        "/api/v1/tasks/", {"status": "done", "completedBefore": timezone.now().isoformat()}
    ).json()
    assert body["results"] == []
