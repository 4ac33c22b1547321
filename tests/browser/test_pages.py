"""The dashboard pages on the server side (Django's test client, no browser): sign-in
guards, organization scoping of the shells, the socket token endpoint, translations."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django.utils import translation
from rest_framework_simplejwt.tokens import AccessToken

from tests.factories import PASSWORD

PAGES = ["/map/", "/tasks/"]


@pytest.fixture
def signed_in():
    def make(user) -> Client:
        client = Client()
        assert client.login(username=user.username, password=PASSWORD)
        return client

    return make


@pytest.mark.parametrize("path", PAGES + ["/machines/00000000-0000-0000-0000-000000000001/"])
def test_pages_send_anonymous_visitors_to_the_login_form(db, client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={path}"


def test_root_redirects_to_the_map(people_client):
    response = people_client.get("/")
    assert response.status_code == 302 and response["Location"] == "/map/"


@pytest.fixture
def people_client(personas, signed_in):
    return signed_in(personas.manager)


def test_login_form_signs_in_and_follows_next(personas, client):
    response = client.post("/login/?next=/tasks/", {
        "username": personas.operator.username, "password": PASSWORD, "next": "/tasks/",
    })
    assert response.status_code == 302 and response["Location"] == "/tasks/"
    assert client.get("/tasks/").status_code == 200


def test_login_form_refuses_a_wrong_password(personas, client):
    response = client.post("/login/", {"username": personas.operator.username, "password": "x"})
    assert response.status_code == 200
    assert b"Wrong username or password" in response.content


def test_logout_is_a_post(personas, signed_in):
    client = signed_in(personas.operator)
    assert client.post("/logout/").status_code == 302
    assert client.get("/map/").status_code == 302


@pytest.mark.parametrize("path", PAGES)
def test_pages_render_for_members(personas, signed_in, path):
    response = signed_in(personas.viewer).get(path)
    assert response.status_code == 200
    assert b'id="bell-button"' in response.content
    assert b'id="connection"' in response.content
    # Browser packages come from our own static files, never from a CDN.
    assert b"/static/vendor/socket.io-client/socket.io.min.js" in response.content
    assert b"https://" not in response.content.replace(b"https://tile.openstreetmap.org", b"")


def test_monitor_shows_a_machine_of_the_users_organization(personas, signed_in):
    response = signed_in(personas.operator).get(f"/machines/{personas.machine.id}/")
    assert response.status_code == 200
    assert personas.machine.name.encode() in response.content
    assert b'data-temperature-threshold="30.0"' in response.content


def test_monitor_of_another_organizations_machine_is_not_found(personas, signed_in):
    response = signed_in(personas.manager).get(f"/machines/{personas.rival_machine.id}/")
    assert response.status_code == 404


def test_map_page_names_no_machine_of_another_organization(personas, signed_in):
    personas.rival_machine.name = "Rival Secret Machine"
    personas.rival_machine.save()
    response = signed_in(personas.manager).get("/map/")
    assert b"Rival Secret Machine" not in response.content
    assert b"/static/vendor/leaflet/leaflet.js" in response.content


def test_the_map_takes_its_tile_server_from_the_settings(personas, signed_in, settings):
    settings.MAP_TILE_URL = "http://tiles.internal.example/{z}/{x}/{y}.png"
    settings.MAP_TILE_ATTRIBUTION = "Internal tiles"
    response = signed_in(personas.viewer).get("/map/")
    assert b'data-tile-url="http://tiles.internal.example/{z}/{x}/{y}.png"' in response.content
    assert b'data-tile-attribution="Internal tiles"' in response.content
    assert b"tile.openstreetmap.org" not in response.content


def test_managers_pick_among_their_operators_only(personas, signed_in):
    response = signed_in(personas.manager).get("/tasks/")
    assert response.context["operators"] == [
        {"id": personas.operator.pk, "name": personas.operator.username}
    ]
    assert response.context["assignee_id"] == personas.operator.pk
    # Another organization's manager has no operators: the picker does not appear at all.
    stranger = signed_in(personas.stranger).get("/tasks/")
    assert stranger.context["operators"] == []
    assert b'id="operator-select"' not in stranger.content


def test_a_manager_cannot_pick_someone_elses_operator(personas, signed_in):
    response = signed_in(personas.manager).get(f"/tasks/?operator={personas.stranger.pk}")
    assert response.context["assignee_id"] == personas.operator.pk


def test_operators_get_their_own_board(personas, signed_in):
    response = signed_in(personas.operator).get(f"/tasks/?operator={personas.manager.pk}")
    assert response.context["assignee_id"] == personas.operator.pk
    assert b'id="operator-select"' not in response.content


# -- the socket token ---------------------------------------------------------------------------


def test_token_endpoint_hands_the_session_user_a_short_lived_access_token(personas, signed_in):
    response = signed_in(personas.operator).post("/dashboard/token/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    token = AccessToken(body["access"])
    assert int(token["user_id"]) == personas.operator.pk
    assert body["expiresAt"] == token["exp"] and body["expiresAt"] > time.time()


def test_token_endpoint_refuses_anonymous_visitors(db, client):
    response = client.post("/dashboard/token/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Not signed in."}


def test_token_endpoint_is_post_only(personas, signed_in):
    assert signed_in(personas.operator).get("/dashboard/token/").status_code == 405


def test_token_endpoint_needs_the_csrf_token(personas):
    client = Client(enforce_csrf_checks=True)
    client.login(username=personas.operator.username, password=PASSWORD)
    assert client.post("/dashboard/token/").status_code == 403
    client.get("/map/")  # sets the CSRF cookie
    csrf = client.cookies["csrftoken"].value
    assert client.post("/dashboard/token/", headers={"X-CSRFToken": csrf}).status_code == 200


# -- translations -----------------------------------------------------------------------------


def test_russian_translations_are_compiled():
    with translation.override("ru"):
        assert translation.gettext("Live map") == "Карта"
        assert translation.gettext("In progress") == "В работе"
        assert translation.gettext("Ingredient levels") == "Уровень ингредиентов"


def test_pages_switch_language(personas, signed_in):
    client = signed_in(personas.operator)
    response = client.post("/i18n/setlang/", {"language": "ru", "next": "/tasks/"})
    assert response.status_code == 302
    page = client.get("/tasks/")
    assert '<html lang="ru">' in page.content.decode()
    assert "Доска задач" in page.content.decode()
    catalog = client.get("/jsi18n/").content.decode()
    assert "\\u041d\\u0430\\u0447\\u0430\\u0442\\u044c" in catalog or "Начать" in catalog

    client.post("/i18n/setlang/", {"language": "en", "next": "/tasks/"})
    assert "Task board" in client.get("/tasks/").content.decode()
