"""The /sales/ page (server side): managers get the shell with their organizations and the
header links it; operators and viewers get a 403 and no link; strangers see only their own
organizations' names."""

from __future__ import annotations

import pytest
from django.test import Client

from machines.models import Role
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_anonymous_visitors_go_to_the_login_form(client):
    response = client.get("/sales/")
    assert response.status_code == 302 and response["Location"] == "/login/?next=/sales/"


def test_a_manager_gets_the_page_and_the_header_link(personas):
    response = signed_in(personas.manager).get("/sales/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'href="/sales/"' in page
    assert "/static/vendor/uplot/uPlot.iife.min.js" in page and "js/sales.js" in page
    assert str(personas.acme.pk) in page
    assert str(personas.rival.pk) not in page and "Rival" not in page
    assert 'id="sales-organization"' not in page  # one organization: nothing to choose


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_operators_and_viewers_are_refused_and_not_linked(personas, role):
    client = signed_in(getattr(personas, role))
    assert client.get("/sales/").status_code == 403
    assert 'href="/sales/"' not in client.get("/map/").content.decode()


def test_a_manager_of_two_organizations_picks_one(personas):
    personas.stranger.memberships.create(organization=personas.acme, role=Role.MANAGER)
    page = signed_in(personas.stranger).get("/sales/").content.decode()
    assert 'id="sales-organization"' in page
    assert str(personas.acme.pk) in page and str(personas.rival.pk) in page
