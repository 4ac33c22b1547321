"""The routes page is the managers': operators and viewers get a 403, like moving a stop;
the header links it for managers only; the page carries only the manager's organizations'
operators."""

from __future__ import annotations

import json

import pytest

from tests.operations.routes_data import acme_routes

pytestmark = pytest.mark.django_db


@pytest.fixture
def routes(personas):
    return acme_routes(personas)


def test_a_manager_gets_the_page_with_their_operators_only(personas, routes, client):
    client.force_login(personas.manager)
    response = client.get("/routes/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'href="/routes/"' in html  # the header's link
    operators = json.loads(html.split('id="route-operators" type="application/json">')[1]
                           .split("</script>")[0])
    assert [operator["id"] for operator in operators] == [personas.operator.pk,
                                                          routes["second_operator"].pk]
    assert "rival" not in html.lower()


@pytest.mark.parametrize("who", ["operator", "viewer", "stranger_without_org"])
def test_others_get_a_403_and_no_header_link(personas, routes, client, who):
    if who == "stranger_without_org":
        from tests.factories import make_user

        user = make_user("nobody")
    else:
        user = getattr(personas, who)
    client.force_login(user)
    assert client.get("/routes/").status_code == 403
    assert 'href="/routes/"' not in client.get("/tasks/").content.decode()


def test_anonymous_visitors_go_to_the_login_form(client):
    response = client.get("/routes/")
    assert response.status_code == 302 and "/login/" in response["Location"]
