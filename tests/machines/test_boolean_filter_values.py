"""Boolean filters (`?open=` of tasks, `?read=` of notifications): true/false (or 1/0); any
other value is a 400 naming the parameter, not the whole unfiltered list."""

from __future__ import annotations

import pytest

from machines.models import TaskStatus
from tests.conftest import client_for
from tests.factories import make_notification, make_task

pytestmark = pytest.mark.django_db


def get(user, url, params):
    return client_for(user).get(url, params)


@pytest.mark.parametrize("url, name", [("/api/v1/tasks/", "open"),
                                       ("/api/v1/notifications/", "read")])
@pytest.mark.parametrize("value", ["maybe", "²", "yes please", "\x00"])
def test_a_boolean_filter_that_is_not_true_or_false_is_named(personas, url, name, value):
    response = get(personas.manager, url, {name: value})
    assert response.status_code == 400, response.content
    assert list(response.json()) == [name]


@pytest.mark.parametrize("value, expected", [("true", "open"), ("TRUE", "open"), ("1", "open"),
                                             ("false", "done"), ("0", "done"), ("", "both")])
def test_true_false_one_zero_and_empty_still_filter_tasks(personas, value, expected):
    open_task = make_task(personas.machine)
    done = make_task(personas.machine, status=TaskStatus.DONE)
    ids = {row["id"] for row in get(personas.manager, "/api/v1/tasks/",
                                    {"open": value}).json()["results"]}
    want = {"open": {str(open_task.pk)}, "done": {str(done.pk)},
            "both": {str(open_task.pk), str(done.pk)}}[expected]
    assert ids == want


def test_read_false_still_lists_the_unread(personas):
    unread = make_notification(personas.manager, personas.acme)
    make_notification(personas.manager, personas.acme, read=True)
    rows = get(personas.manager, "/api/v1/notifications/", {"read": "false"}).json()["results"]
    assert [row["id"] for row in rows] == [str(unread.pk)]
