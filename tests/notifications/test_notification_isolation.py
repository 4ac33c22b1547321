"""Someone else's notification is not found (404), in the same organization or another."""

import pytest

from tests.conftest import client_for
from tests.factories import make_notification

pytestmark = pytest.mark.django_db


@pytest.fixture
def managers_notification(personas):
    return make_notification(personas.manager, personas.acme, title="For the manager")


def test_another_organizations_user_gets_404(personas, managers_notification):
    client = client_for(personas.stranger)
    url = f"/api/v1/notifications/{managers_notification.pk}/"
    assert client.get(url).status_code == 404
    assert client.post(f"{url}read/").status_code == 404
    managers_notification.refresh_from_db()
    assert managers_notification.read is False


def test_a_colleague_gets_404_too(personas, managers_notification):
    client = client_for(personas.operator)
    assert client.get(f"/api/v1/notifications/{managers_notification.pk}/").status_code == 404
    assert client.get("/api/v1/notifications/unread-count/").json() == {"count": 0}


def test_read_all_of_another_user_leaves_mine_unread(personas, managers_notification):
    assert client_for(personas.stranger).post("/api/v1/notifications/read-all/").json() == {
        "updated": 0
    }
    managers_notification.refresh_from_db()
    assert managers_notification.read is False
