"""Who receives the refill task a low bunker opens: the machine's responsible operator,
but only while they are an operator of the machine's organization."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from machines.models import Membership, Role, Task, TaskKind
from realtime.rooms import organization_room, tasks_room
from tests.factories import make_user
from tests.telemetry.conftest import reading_body

pytestmark = pytest.mark.django_db

URL = "/api/v1/telemetry/"


def post_low_coffee(device, personas):
    at = datetime.now(UTC) - timedelta(minutes=1)
    response = device.post(URL, reading_body(personas.machine, at=at,
                                             bunkers={personas.coffee: 150}), format="json")
    assert response.status_code == 201, response.content


def test_low_bunker_creates_one_refill_task_for_the_responsible_operator(personas, device, sent):
    with sent.capture():
        post_low_coffee(device, personas)
    task = Task.objects.get(kind=TaskKind.REFILL)
    assert task.assignee == personas.operator
    board = tasks_room(personas.operator.pk, personas.acme.pk)
    assert [p["id"] for p in sent.of("task:updated", board)] == [str(task.pk)]


def test_an_operator_who_left_the_organization_receives_no_refill_task(personas, device, sent):
    Membership.objects.filter(user=personas.operator, organization=personas.acme).delete()
    with sent.capture():
        post_low_coffee(device, personas)
    task = Task.objects.get(kind=TaskKind.REFILL)
    assert task.assignee is None
    assert sent.rooms("task:updated") == [organization_room(personas.acme.pk)]


def test_a_responsible_user_who_is_no_longer_an_operator_receives_no_refill_task(
        personas, device):
    Membership.objects.filter(user=personas.operator).update(role=Role.VIEWER)
    post_low_coffee(device, personas)
    assert Task.objects.get(kind=TaskKind.REFILL).assignee is None


def test_a_deactivated_operator_receives_no_refill_task(personas, device):
    personas.operator.is_active = False
    personas.operator.save()
    post_low_coffee(device, personas)
    assert Task.objects.get(kind=TaskKind.REFILL).assignee is None


def test_an_operator_of_another_organization_receives_no_refill_task(personas, device):
    outsider = make_user("rival-operator", organization=personas.rival, role=Role.OPERATOR)
    type(personas.machine).objects.filter(pk=personas.machine.pk).update(
        responsible_operator=outsider)
    post_low_coffee(device, personas)
    assert Task.objects.get(kind=TaskKind.REFILL).assignee is None
