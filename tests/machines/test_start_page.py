"""Where people land after signing in: operators on their task board, managers on the map;
`?next=` wins."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def sign_in(user, next_path: str = "") -> str:
    url = "/login/" + (f"?next={next_path}" if next_path else "")
    response = Client().post(url, {"username": user.username, "password": PASSWORD,
                                   "next": next_path})
    assert response.status_code == 302
    return response["Location"]


def test_an_operator_lands_on_their_task_board(personas):
    assert sign_in(personas.operator) == "/tasks/"


def test_a_manager_and_a_viewer_land_on_the_map(personas):
    assert sign_in(personas.manager) == "/map/"
    assert sign_in(personas.viewer) == "/map/"


def test_next_still_wins(personas):
    path = f"/machines/{personas.machine.pk}/"
    assert sign_in(personas.operator, path) == path


def test_home_sends_a_signed_in_operator_to_the_board(personas):
    client = Client()
    client.force_login(personas.operator)
    assert client.get("/")["Location"] == "/tasks/"
