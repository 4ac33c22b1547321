"""Who may move a task's status: its assignee (an operator) or a manager of the organization."""

import pytest

from machines.models import Role, TaskStatus
from machines.services import TaskPermissionDenied, change_task_status
from tests.conftest import client_for
from tests.factories import make_task, make_user

pytestmark = pytest.mark.django_db


def patch_status(user, task, status):
    return client_for(user).patch(f"/api/v1/tasks/{task.pk}/", {"status": status}, format="json")


def test_an_operator_may_move_their_own_task(personas):
    task = make_task(personas.machine, assignee=personas.operator)
    response = patch_status(personas.operator, task, "in_progress")
    assert response.status_code == 200
    assert response.json()["status"] == "in_progress"
    task.refresh_from_db()
    assert task.status == TaskStatus.IN_PROGRESS


def test_an_operator_may_not_move_someone_elses_task(personas):
    colleague = make_user("acme-operator-2", organization=personas.acme, role=Role.OPERATOR)
    task = make_task(personas.machine, assignee=colleague)
    assert patch_status(personas.operator, task, "done").status_code == 403
    task.refresh_from_db()
    assert task.status == TaskStatus.TODO


def test_an_operator_may_not_move_an_unassigned_task(personas):
    task = make_task(personas.machine)
    assert patch_status(personas.operator, task, "in_progress").status_code == 403


def test_a_viewer_may_not_move_any_task(personas):
    task = make_task(personas.machine, assignee=personas.operator)
    assert patch_status(personas.viewer, task, "done").status_code == 403


def test_a_manager_may_move_any_task_of_the_organization(personas):
    task = make_task(personas.machine, assignee=personas.operator)
    assert patch_status(personas.manager, task, "cancelled").status_code == 200
    task.refresh_from_db()
    assert task.status == TaskStatus.CANCELLED


def test_done_sets_completed_at_and_reopening_clears_it(personas):
    task = make_task(personas.machine, assignee=personas.operator)
    body = patch_status(personas.operator, task, "done").json()
    assert body["completedAt"] is not None
    task.refresh_from_db()
    assert task.completed_at is not None
    body = patch_status(personas.operator, task, "todo").json()
    assert body["completedAt"] is None


def test_an_unknown_status_is_a_validation_error(personas):
    task = make_task(personas.machine, assignee=personas.operator)
    response = patch_status(personas.operator, task, "finished")
    assert response.status_code == 400
    assert "status" in response.json()


def test_an_operator_may_not_edit_other_fields_of_their_own_task(personas):
    task = make_task(personas.machine, assignee=personas.operator, title="Clean")
    response = client_for(personas.operator).patch(
        f"/api/v1/tasks/{task.pk}/", {"status": "done", "title": "Nothing to do"}, format="json"
    )
    assert response.status_code == 403
    task.refresh_from_db()
    assert (task.title, task.status) == ("Clean", TaskStatus.TODO)


def test_the_service_refuses_an_operator_on_someone_elses_task(personas):
    task = make_task(personas.machine)
    with pytest.raises(TaskPermissionDenied):
        change_task_status(task=task, status=TaskStatus.DONE, actor=personas.operator)


def test_an_operator_who_left_the_organization_may_not_move_their_old_task(personas):
    task = make_task(personas.machine, assignee=personas.operator)
    personas.operator.memberships.all().delete()
    with pytest.raises(TaskPermissionDenied):
        change_task_status(task=task, status=TaskStatus.DONE, actor=personas.operator)
