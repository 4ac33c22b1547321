"""The notification centre: own list, unread count, mark read, mark all read."""

import pytest

from notifications.models import Notification
from tests.conftest import client_for
from tests.factories import make_notification

pytestmark = pytest.mark.django_db


@pytest.fixture
def inbox(personas):
    return [
        make_notification(
            personas.manager, personas.acme, title="Low coffee", machine=personas.machine
        ),
        make_notification(personas.manager, personas.acme, title="Hot", type="warning"),
        make_notification(personas.manager, personas.acme, title="Old news", read=True),
        make_notification(personas.operator, personas.acme, title="For the operator"),
    ]


def test_list_has_only_own_notifications_in_camel_case(personas, inbox):
    body = client_for(personas.manager).get("/api/v1/notifications/").json()
    assert body["count"] == 3
    first = next(row for row in body["results"] if row["title"] == "Low coffee")
    assert set(first) == {
        "id",
        "title",
        "message",
        "type",
        "priority",
        "read",
        "createdAt",
        "machineId",
    }
    assert first["machineId"] == str(personas.machine.pk)
    assert first["read"] is False


def test_read_false_filter_lists_unread_only(personas, inbox):
    body = client_for(personas.manager).get("/api/v1/notifications/?read=false").json()
    assert {row["title"] for row in body["results"]} == {"Low coffee", "Hot"}


def test_unread_count(personas, inbox):
    response = client_for(personas.manager).get("/api/v1/notifications/unread-count/")
    assert response.status_code == 200
    assert response.json() == {"count": 2}


def test_mark_one_read(personas, inbox):
    notification = inbox[0]
    response = client_for(personas.manager).post(f"/api/v1/notifications/{notification.pk}/read/")
    assert response.status_code == 200
    assert response.json()["read"] is True
    notification.refresh_from_db()
    assert notification.read is True


def test_mark_all_read_touches_only_own_unread(personas, inbox):
    response = client_for(personas.manager).post("/api/v1/notifications/read-all/")
    assert response.json() == {"updated": 2}
    assert not Notification.objects.filter(recipient=personas.manager, read=False).exists()
    assert Notification.objects.get(title="For the operator").read is False


def test_notifications_require_authentication(api_client):
    assert api_client.get("/api/v1/notifications/").status_code == 401
