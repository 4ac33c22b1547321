"""User-id filters (`?assignee=`, `?responsibleOperator=`): a value that is not a plain id is
a 400 naming the parameter, never a 500 and never a silently empty page."""

from __future__ import annotations

import pytest

from tests.conftest import client_for
from tests.factories import make_task

pytestmark = pytest.mark.django_db

NOT_IDS = [
    "²",  # str.isdigit() accepts it, int() refuses it
    "٣",  # an Arabic-Indic digit: int() reads 3, but no id is written so
    "1.5",
    "-1",
    "9" * 20,  # beyond bigint: no id, and a query parameter PostgreSQL refuses
    "9" * 30,
    "9" * 5000,  # int() refuses more than 4,300 digits
]


def get(personas, url, params):
    client = client_for(personas.manager)
    client.raise_request_exception = False
    return client.get(url, params)


@pytest.mark.parametrize("value", NOT_IDS)
def test_a_task_assignee_that_is_not_an_id_is_named(personas, value):
    response = get(personas, "/api/v1/tasks/", {"assignee": value})
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["assignee"]


@pytest.mark.parametrize("value", NOT_IDS)
def test_a_responsible_operator_that_is_not_an_id_is_named(personas, value):
    response = get(personas, "/api/v1/machines/", {"responsibleOperator": value})
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["responsibleOperator"]


def test_plain_ids_still_filter(personas):
    task = make_task(personas.machine, assignee=personas.operator)
    response = get(personas, "/api/v1/tasks/", {"assignee": f" {personas.operator.pk} "})
    assert [row["id"] for row in response.json()["results"]] == [str(task.pk)]
    response = get(personas, "/api/v1/machines/", {"responsibleOperator": personas.operator.pk})
    assert [row["id"] for row in response.json()["results"]] == [str(personas.machine.pk)]
