"""Memberships decide who manages an organization, so only its managers change them in the
admin: a staff member who merely belongs to an organization cannot promote themselves in it
(and then take over its people)."""

from __future__ import annotations

import pytest

from machines.models import Membership, Role
from tests.admin.pages import admin_url, submitted_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer_in_rival(personas):
    """acme's manager is also a viewer of rival."""
    return Membership.objects.create(
        user=personas.manager, organization=personas.rival, role=Role.VIEWER
    )


def test_a_viewer_of_an_organization_cannot_promote_themselves_in_it(
    staff_client, viewer_in_rival
):
    response = staff_client.post(
        admin_url(Membership, "change", viewer_in_rival.pk),
        {"user": str(viewer_in_rival.user_id), "organization": str(viewer_in_rival.organization_id),
         "role": Role.MANAGER},
    )

    assert response.status_code == 403
    viewer_in_rival.refresh_from_db()
    assert viewer_in_rival.role == Role.VIEWER


def test_a_viewer_of_an_organization_cannot_add_memberships_to_it(
    staff_client, personas, viewer_in_rival
):
    response = staff_client.post(
        admin_url(Membership, "add"),
        {"user": str(personas.operator.pk), "organization": str(personas.rival.pk),
         "role": Role.MANAGER},
    )

    assert response.status_code == 200  # the form again: rival is not a choice
    assert not personas.operator.memberships.filter(organization=personas.rival).exists()


def test_a_member_of_an_organization_the_staff_member_only_views_stays_read_only(
    staff_client, personas, viewer_in_rival
):
    # Their own account too: its rival membership is not theirs to change.
    response = staff_client.get(admin_url(type(personas.manager), "change", personas.manager.pk))

    assert "memberships-0-role" not in submitted_form(response)


def test_a_manager_changes_roles_in_their_organization(staff_client, personas):
    membership = personas.operator.memberships.get()

    response = staff_client.post(
        admin_url(Membership, "change", membership.pk),
        {"user": str(personas.operator.pk), "organization": str(personas.acme.pk),
         "role": Role.VIEWER},
    )

    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role == Role.VIEWER
