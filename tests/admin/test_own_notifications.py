"""The admin shows everyone, superusers included, only their own notifications, as their
notification centre does: another person's cannot be read, marked read or found by id."""

from __future__ import annotations

import pytest

from notifications.models import Notification
from tests.admin.pages import admin_url
from tests.factories import make_notification

pytestmark = pytest.mark.django_db


@pytest.fixture
def own(personas):
    return make_notification(personas.manager, personas.acme, title="For the manager")


@pytest.fixture
def colleagues(personas):
    """The operator's, in the same organization as the manager."""
    return make_notification(personas.operator, personas.acme, title="For the operator")


def listed(client) -> set[str]:
    response = client.get(admin_url(Notification, "changelist"))
    assert response.status_code == 200
    return {notification.title for notification in response.context["cl"].result_list}


def test_the_list_shows_only_the_viewers_own_notifications(staff_client, own, colleagues):
    assert listed(staff_client) == {"For the manager"}
    assert "For the operator" not in staff_client.get(
        admin_url(Notification, "changelist"), {"q": "operator"}
    ).content.decode()


def test_a_superuser_sees_only_their_own_notifications_too(
    superuser_client, superuser, personas, own, colleagues
):
    make_notification(superuser, personas.acme, title="For root")

    assert listed(superuser_client) == {"For root"}
    response = superuser_client.get(admin_url(Notification, "change", own.pk))
    assert response.status_code == 302  # "does not exist"


def test_another_persons_notification_is_not_found_by_id(staff_client, colleagues):
    assert staff_client.get(admin_url(Notification, "change", colleagues.pk)).status_code == 302

    response = staff_client.post(
        admin_url(Notification, "change", colleagues.pk),
        {"title": "Rewritten", "read": "on", "type": "info", "priority": "medium"},
    )

    assert response.status_code == 302
    colleagues.refresh_from_db()
    assert (colleagues.title, colleagues.read) == ("For the operator", False)


def test_the_mark_read_action_reaches_only_the_viewers_own(staff_client, own, colleagues):
    staff_client.post(
        admin_url(Notification, "changelist"),
        {"action": "mark_read", "_selected_action": [str(own.pk), str(colleagues.pk)]},
    )

    own.refresh_from_db()
    colleagues.refresh_from_db()
    assert own.read is True
    assert colleagues.read is False


def test_the_mark_unread_action_reaches_only_the_viewers_own(staff_client, personas):
    mine = make_notification(personas.manager, personas.acme, read=True)
    theirs = make_notification(personas.operator, personas.acme, read=True)

    staff_client.post(
        admin_url(Notification, "changelist"),
        {"action": "mark_unread", "_selected_action": [str(mine.pk), str(theirs.pk)]},
    )

    assert Notification.objects.get(pk=mine.pk).read is False
    assert Notification.objects.get(pk=theirs.pk).read is True


def test_a_notification_cannot_be_addressed_to_someone_else(staff_client, personas):
    response = staff_client.post(
        admin_url(Notification, "add"),
        {"recipient": str(personas.operator.pk), "organization": str(personas.acme.pk),
         "title": "Planted", "type": "info", "priority": "medium"},
    )

    assert response.status_code == 200  # the form again: only oneself is a choice
    assert not Notification.objects.filter(title="Planted").exists()
