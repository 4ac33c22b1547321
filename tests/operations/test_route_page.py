"""The operator's route page (/route/): signed-in users only, linked in the header for
operators, and it carries no data of its own (the route comes from the scoped API)."""

from __future__ import annotations

from django.test import Client


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_page_needs_a_session(db):
    response = Client().get("/route/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_operators_get_the_page_and_a_header_link(personas):
    response = signed_in(personas.operator).get("/route/")
    assert response.status_code == 200
    assert b'id="route-page"' in response.content
    assert b'href="/route/"' in response.content


def test_the_header_links_it_for_operators_only(personas):
    for user in (personas.manager, personas.viewer, personas.stranger):
        assert b'href="/route/"' not in signed_in(user).get("/tasks/").content
    assert b'href="/route/"' in signed_in(personas.operator).get("/tasks/").content
