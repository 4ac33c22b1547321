"""Who hears about a task: its new assignee, the operator it was taken from, and the
organization's managers when an operator finishes or rejects it; live, to `user:{id}`."""

from __future__ import annotations

import pytest

from machines.models import Role, Task, TaskStatus
from notifications.models import Notification
from realtime.rooms import user_room
from tests.admin.pages import admin_url, submitted_form
from tests.conftest import client_for
from tests.factories import make_task, make_user
from tests.telemetry import conftest as telemetry_fixtures

pytestmark = pytest.mark.django_db
sent = telemetry_fixtures.sent  # the broadcast recorder fixture


def notices_of(user) -> list[Notification]:
    return list(Notification.objects.filter(recipient=user).order_by("created_at"))


def patch(user, task, **body):
    return client_for(user).patch(f"/api/v1/tasks/{task.pk}/", body, format="json")


def test_an_operator_hears_live_that_a_task_was_given_to_them(personas, sent):
    task = make_task(personas.machine)
    with sent.capture():
        assert patch(personas.manager, task, assignee=personas.operator.pk).status_code == 200
    [notice] = notices_of(personas.operator)
    assert notice.title == f"New task: {task.title}"
    assert "acme-manager" in notice.message and personas.machine.name in notice.message
    [event] = sent.of("notification", user_room(personas.operator.pk))
    assert event["id"] == str(notice.pk)
    assert notices_of(personas.manager) == []


def test_a_new_task_created_for_an_operator_is_announced_to_them(personas):
    response = client_for(personas.manager).post("/api/v1/tasks/", {
        "machine": str(personas.machine.pk), "kind": "cleaning", "title": "Wipe the front",
        "assignee": personas.operator.pk}, format="json")
    assert response.status_code == 201
    assert [n.title for n in notices_of(personas.operator)] == ["New task: Wipe the front"]


def test_reassigning_tells_both_operators(personas, sent):
    colleague = make_user("acme-operator-2", organization=personas.acme, role=Role.OPERATOR)
    task = make_task(personas.machine, assignee=personas.operator)
    with sent.capture():
        patch(personas.manager, task, assignee=colleague.pk)
    assert [n.title for n in notices_of(personas.operator)] == [
        f"Task taken off your board: {task.title}"]
    assert [n.title for n in notices_of(colleague)] == [f"New task: {task.title}"]
    assert sent.of("notification", user_room(personas.operator.pk))
    patch(personas.manager, task, assignee=None)
    assert len(notices_of(colleague)) == 2


def test_managers_hear_live_when_an_operator_finishes_a_task(personas, sent):
    other_manager = make_user("acme-manager-2", organization=personas.acme, role=Role.MANAGER)
    task = make_task(personas.machine, assignee=personas.operator)
    with sent.capture():
        assert patch(personas.operator, task, status="done").status_code == 200
    for manager in (personas.manager, other_manager):
        [notice] = notices_of(manager)
        assert notice.title == f"Done: {task.title}" and notice.type == "success"
        assert sent.of("notification", user_room(manager.pk))
    assert notices_of(personas.operator) == []
    assert notices_of(personas.stranger) == []


def test_an_operator_may_reject_their_task_and_managers_hear_it(personas):
    task = make_task(personas.machine, assignee=personas.operator)
    body = patch(personas.operator, task, status="rejected").json()
    assert body["status"] == "rejected" and body["completedAt"] is None
    [notice] = notices_of(personas.manager)
    assert notice.title == f"Rejected: {task.title}" and notice.type == "warning"
    assert notice.priority == "high"


def test_an_operator_may_not_reject_someone_elses_task(personas):
    colleague = make_user("acme-operator-2", organization=personas.acme, role=Role.OPERATOR)
    task = make_task(personas.machine, assignee=colleague)
    assert patch(personas.operator, task, status="rejected").status_code == 403
    assert Task.objects.get(pk=task.pk).status == TaskStatus.TODO


def test_a_manager_closing_a_task_is_not_told_of_their_own_doing(personas):
    task = make_task(personas.machine, assignee=personas.operator)
    patch(personas.manager, task, status="done")
    assert notices_of(personas.manager) == []


def test_an_unknown_status_is_a_400_naming_status(personas):
    task = make_task(personas.machine, assignee=personas.operator)
    response = patch(personas.operator, task, status="refused")
    assert response.status_code == 400 and "status" in response.json()


def test_assigning_in_the_admin_notifies_the_operator(personas, client):
    personas.manager.is_staff = True
    personas.manager.save()
    from django.contrib.auth.models import Permission

    personas.manager.user_permissions.set(
        Permission.objects.filter(content_type__app_label="machines"))
    client.force_login(personas.manager)
    task = make_task(personas.machine)
    url = admin_url(Task, "change", task.pk)
    data = {**submitted_form(client.get(url)), "assignee": [str(personas.operator.pk)]}
    assert client.post(url, data).status_code == 302
    assert [n.title for n in notices_of(personas.operator)] == [f"New task: {task.title}"]
    data = {**submitted_form(client.get(url)), "status": ["done"]}
    client.force_login(personas.manager)
    assert client.post(url, data).status_code == 302
    assert notices_of(personas.manager) == []  # staff's own doing
