"""Managers create tasks and (re)assign them to operators; everyone lists and filters."""

import pytest

from machines.models import Role, Task, TaskStatus
from tests.conftest import client_for
from tests.factories import make_task, make_user

pytestmark = pytest.mark.django_db

TASK_KEYS = {
    "id",
    "machine",
    "machineName",
    "assignee",
    "assigneeName",
    "kind",
    "status",
    "priority",
    "title",
    "notes",
    "dueAt",
    "createdAt",
    "updatedAt",
    "completedAt",
    # where to go and what to bring (tests/machines/test_task_board_fields.py)
    "machineAddress",
    "machineLat",
    "machineLng",
    "bunker",
    "ingredientName",
    "refillGrams",
    # the language of a server-written title and notes
    # (tests/machines/test_server_written_task_languages.py)
    "textLanguage",
}


def test_task_json_is_camel_case(personas):
    make_task(personas.machine, assignee=personas.operator, title="Refill coffee")
    task = client_for(personas.operator).get("/api/v1/tasks/").json()["results"][0]
    assert set(task) == TASK_KEYS
    assert task["machine"] == str(personas.machine.pk)
    assert task["machineName"] == personas.machine.name
    assert task["assignee"] == personas.operator.pk
    assert task["assigneeName"] == "acme-operator"


def test_assignee_me_and_status_filters(personas):
    mine = make_task(personas.machine, assignee=personas.operator, title="Mine")
    make_task(personas.machine, assignee=personas.operator, title="Done", status=TaskStatus.DONE)
    make_task(personas.machine, assignee=personas.manager, title="Not mine")
    body = client_for(personas.operator).get("/api/v1/tasks/?assignee=me&status=todo").json()
    assert [task["id"] for task in body["results"]] == [str(mine.pk)]


def test_assignee_filter_by_user_id(personas):
    make_task(personas.machine, assignee=personas.operator, title="Operator's")
    make_task(personas.machine, title="Nobody's")
    client = client_for(personas.manager)
    body = client.get(f"/api/v1/tasks/?assignee={personas.operator.pk}").json()
    assert [task["title"] for task in body["results"]] == ["Operator's"]
    assert client.get("/api/v1/tasks/?assignee=bogus").status_code == 400


def test_a_manager_assigns_a_task_to_an_operator(personas):
    task = make_task(personas.machine)
    response = client_for(personas.manager).patch(
        f"/api/v1/tasks/{task.pk}/", {"assignee": personas.operator.pk}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["assignee"] == personas.operator.pk


def test_only_operators_can_be_assignees(personas):
    task = make_task(personas.machine)
    response = client_for(personas.manager).patch(
        f"/api/v1/tasks/{task.pk}/", {"assignee": personas.viewer.pk}, format="json"
    )
    assert response.status_code == 400


def test_an_operator_cannot_reassign_their_task(personas):
    colleague = make_user("acme-operator-2", organization=personas.acme, role=Role.OPERATOR)
    task = make_task(personas.machine, assignee=personas.operator)
    response = client_for(personas.operator).patch(
        f"/api/v1/tasks/{task.pk}/", {"assignee": colleague.pk}, format="json"
    )
    assert response.status_code == 400  # not among the operators they manage


def test_a_manager_edits_title_priority_and_due_date(personas):
    task = make_task(personas.machine)
    response = client_for(personas.manager).patch(
        f"/api/v1/tasks/{task.pk}/",
        {"title": "Descale", "priority": "high", "dueAt": "2026-05-01T08:00:00Z"},
        format="json",
    )
    assert response.status_code == 200
    task.refresh_from_db()
    assert (task.title, task.priority) == ("Descale", "high")
    assert task.due_at.isoformat() == "2026-05-01T08:00:00+00:00"


def test_a_manager_creates_a_task(personas):
    response = client_for(personas.manager).post(
        "/api/v1/tasks/",
        {
            "machine": str(personas.machine.pk),
            "kind": "cleaning",
            "title": "Weekly cleaning",
            "assignee": personas.operator.pk,
        },
        format="json",
    )
    assert response.status_code == 201
    task = Task.objects.get(pk=response.json()["id"])
    assert task.organization == personas.acme
    assert task.created_by == personas.manager
    assert task.assignee == personas.operator


def test_an_operator_cannot_create_tasks(personas):
    response = client_for(personas.operator).post(
        "/api/v1/tasks/",
        {"machine": str(personas.machine.pk), "kind": "cleaning", "title": "Me too"},
        format="json",
    )
    assert response.status_code == 403


def test_put_is_not_allowed(personas):
    task = make_task(personas.machine)
    response = client_for(personas.manager).put(
        f"/api/v1/tasks/{task.pk}/", {"status": "done"}, format="json"
    )
    assert response.status_code == 405


def test_operators_endpoint_lists_the_managers_operators(personas):
    body = client_for(personas.manager).get("/api/v1/operators/").json()
    assert body["results"] == [
        {"id": personas.operator.pk, "username": "acme-operator", "name": "acme-operator"}
    ]
    assert client_for(personas.operator).get("/api/v1/operators/").status_code == 403
