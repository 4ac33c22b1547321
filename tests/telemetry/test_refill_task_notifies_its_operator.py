"""The operator a low reading's refill task is given to hears of it as of any task given to
them (a task-assigned notification), once per task, not once per low reading."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from machines.models import Membership, Task, TaskKind
from notifications.models import Notification
from realtime.events import NOTIFICATION
from realtime.rooms import user_room
from tests.conftest import client_for
from tests.telemetry.conftest import reading_body

pytestmark = pytest.mark.django_db


def post_coffee(device, personas, level: int, *, minutes_ago: float) -> None:
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    response = device.post("/api/v1/telemetry/",
                           reading_body(personas.machine, at=at, bunkers={personas.coffee: level}),
                           format="json")
    assert response.status_code == 201, response.content


def assigned_to(user) -> list[Notification]:
    return list(Notification.objects.filter(recipient=user, title_key="task_assigned.title"))


def test_the_responsible_operator_is_notified_of_the_refill_task(personas, device, sent):
    with sent.capture():
        post_coffee(device, personas, 150, minutes_ago=1)
    task = Task.objects.get(kind=TaskKind.REFILL)
    [notification] = assigned_to(personas.operator)
    assert notification.message_key == "task_assigned.automatic"
    assert notification.machine_id == personas.machine.pk
    name = personas.machine.name
    assert notification.title == f"New task: {task.title}"
    [event] = sent.of(NOTIFICATION, user_room(personas.operator.pk))
    assert event["title"] == f"New task: Refill Coffee at {name}"
    assert event["priority"] == "high"


def test_the_notification_reads_in_the_operators_language_task_title_included(personas, device):
    post_coffee(device, personas, 150, minutes_ago=1)
    body = client_for(personas.operator).get("/api/v1/notifications/",
                                             HTTP_ACCEPT_LANGUAGE="ru").json()
    name = personas.machine.name
    assert [(row["title"], row["message"]) for row in body["results"]] == [
        (f"Новая задача: Пополнить Coffee: {name}",
         f"Создана для вас автоматически: низкий уровень в {name}.")]


def test_further_low_readings_of_the_same_episode_notify_nobody_again(personas, device):
    post_coffee(device, personas, 150, minutes_ago=3)
    post_coffee(device, personas, 120, minutes_ago=2)
    post_coffee(device, personas, 90, minutes_ago=1)
    assert Task.objects.filter(kind=TaskKind.REFILL).count() == 1
    assert len(assigned_to(personas.operator)) == 1


def test_an_unassigned_refill_task_notifies_no_operator(personas, device):
    Membership.objects.filter(user=personas.operator, organization=personas.acme).delete()
    post_coffee(device, personas, 150, minutes_ago=1)
    assert Task.objects.get(kind=TaskKind.REFILL).assignee is None
    assert not Notification.objects.filter(title_key="task_assigned.title").exists()
