"""A JSON body nested deeper than the parser can follow is a 400, never a 500."""

import pytest

pytestmark = pytest.mark.django_db

DEPTH = 100_000


@pytest.mark.parametrize("path", ["/api/v1/auth/token/", "/api/v1/auth/token/refresh/",
                                  "/api/v1/auth/token/verify/"])
@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_a_body_nested_100000_deep_is_a_400(api_client, path, opening):
    closing = "]" if opening == "[" else "}"
    body = opening * DEPTH + "1" + closing * DEPTH
    response = api_client.generic("POST", path, body, content_type="application/json")
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


def test_a_body_nested_a_few_levels_is_still_parsed(api_client):
    response = api_client.post("/api/v1/auth/token/", {"username": [[["x"]]], "password": "p"},
                               format="json")
    assert response.status_code == 400
    assert "username" in response.json()
