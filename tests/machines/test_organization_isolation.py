"""Another organization's objects are not found (404), never forbidden (403)."""

import pytest

from machines.models import Task, TaskStatus
from tests.conftest import client_for
from tests.factories import make_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme_task(personas):
    return make_task(personas.machine, assignee=personas.operator)


def test_another_organizations_machine_is_a_404(personas):
    client = client_for(personas.stranger)
    assert client.get(f"/api/v1/machines/{personas.machine.pk}/").status_code == 404
    assert client.get(f"/api/v1/machines/{personas.machine.pk}/telemetry").status_code == 404


def test_another_organizations_machines_are_not_listed(personas):
    body = client_for(personas.stranger).get("/api/v1/machines/").json()
    assert [machine["id"] for machine in body["results"]] == [str(personas.rival_machine.pk)]
    markers = client_for(personas.stranger).get("/api/v1/machines/?withLocation=true").json()
    assert [marker["id"] for marker in markers] == [str(personas.rival_machine.pk)]


def test_another_organizations_task_is_a_404_to_read_and_to_change(personas, acme_task):
    client = client_for(personas.stranger)
    url = f"/api/v1/tasks/{acme_task.pk}/"
    assert client.get(url).status_code == 404
    assert client.patch(url, {"status": "done"}, format="json").status_code == 404
    acme_task.refresh_from_db()
    assert acme_task.status == TaskStatus.TODO


def test_another_organizations_tasks_are_not_listed(personas, acme_task):
    body = client_for(personas.stranger).get("/api/v1/tasks/").json()
    assert body["count"] == 0


def test_another_organizations_ingredient_is_a_404(personas):
    ingredient_id = personas.coffee.ingredient_id
    client = client_for(personas.stranger)
    assert client.get(f"/api/v1/ingredients/{ingredient_id}/").status_code == 404
    names = [row["name"] for row in client.get("/api/v1/ingredients/").json()["results"]]
    assert names == ["Tea"]


def test_a_manager_cannot_create_a_task_on_another_organizations_machine(personas):
    response = client_for(personas.stranger).post(
        "/api/v1/tasks/",
        {"machine": str(personas.machine.pk), "kind": "cleaning", "title": "Sneaky"},
        format="json",
    )
    assert response.status_code == 400
    assert "machine" in response.json()
    assert not Task.objects.filter(title="Sneaky").exists()


def test_a_manager_cannot_assign_another_organizations_operator(personas, acme_task):
    rival_task = make_task(personas.rival_machine)
    response = client_for(personas.stranger).patch(
        f"/api/v1/tasks/{rival_task.pk}/", {"assignee": personas.operator.pk}, format="json"
    )
    assert response.status_code == 400
    rival_task.refresh_from_db()
    assert rival_task.assignee_id is None


def test_operators_of_another_organization_are_not_offered(personas):
    body = client_for(personas.stranger).get("/api/v1/operators/").json()
    assert body["count"] == 0


def test_unknown_and_malformed_ids_are_404(personas):
    client = client_for(personas.manager)
    assert client.get("/api/v1/machines/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert client.get("/api/v1/machines/not-a-uuid/").status_code == 404
    assert client.get("/api/v1/tasks/not-a-uuid/").status_code == 404
