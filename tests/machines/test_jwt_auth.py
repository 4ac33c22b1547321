"""JWT: obtain a pair with username and password, refresh, verify, and use it."""

import pytest

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def obtain(api_client, username, password=PASSWORD):
    return api_client.post(
        "/api/v1/auth/token/", {"username": username, "password": password}, format="json"
    )


def test_valid_credentials_return_an_access_and_a_refresh_token(personas, api_client):
    response = obtain(api_client, "acme-operator")
    assert response.status_code == 200
    assert set(response.json()) >= {"access", "refresh"}


def test_wrong_password_is_refused(personas, api_client):
    assert obtain(api_client, "acme-operator", "nope").status_code == 401


def test_access_token_authenticates_api_requests(personas, api_client):
    access = obtain(api_client, "acme-operator").json()["access"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    response = api_client.get("/api/v1/machines/")
    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_refresh_token_yields_a_new_access_token(personas, api_client):
    refresh = obtain(api_client, "acme-operator").json()["refresh"]
    response = api_client.post("/api/v1/auth/token/refresh/", {"refresh": refresh}, format="json")
    assert response.status_code == 200
    assert "access" in response.json()


def test_verify_accepts_a_valid_token_and_rejects_garbage(personas, api_client):
    access = obtain(api_client, "acme-operator").json()["access"]
    verify = "/api/v1/auth/token/verify/"
    assert api_client.post(verify, {"token": access}, format="json").status_code == 200
    assert api_client.post(verify, {"token": "not-a-jwt"}, format="json").status_code == 401


def test_a_garbage_bearer_token_is_unauthorized(personas, api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    assert api_client.get("/api/v1/machines/").status_code == 401


def test_a_deactivated_users_tokens_stop_working(personas, api_client):
    tokens = obtain(api_client, "acme-operator").json()
    personas.operator.is_active = False
    personas.operator.save()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert api_client.get("/api/v1/machines/").status_code == 401
    api_client.credentials()
    refresh = api_client.post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]},
                              format="json")
    assert refresh.status_code == 401
    assert obtain(api_client, "acme-operator").status_code == 401


def test_missing_credentials_are_named(personas, api_client):
    response = api_client.post("/api/v1/auth/token/", {"username": "acme-operator"},
                               format="json")
    assert response.status_code == 400
    assert "password" in response.json()
