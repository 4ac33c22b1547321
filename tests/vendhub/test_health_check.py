"""`GET /healthz`, the load balancer's health check (deploy/haproxy.cfg): answers without
touching the database, and 503 while the process drains, so that HAProxy stops sending it
new sessions."""

from __future__ import annotations

import pytest
from django.test import Client

from vendhub.health import set_draining


@pytest.fixture
def client():
    return Client()


@pytest.fixture
def draining():
    set_draining(True)
    yield
    set_draining(False)


@pytest.mark.django_db
def test_health_check_answers_ok_without_a_database_query(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert (response.status_code, response.content) == (200, b"ok\n")


@pytest.mark.django_db
def test_a_draining_process_fails_its_health_check(client, draining):
    response = client.get("/healthz")
    assert (response.status_code, response.content) == (503, b"draining\n")


@pytest.mark.django_db
def test_health_check_only_answers_get(client):
    assert client.post("/healthz").status_code == 405
