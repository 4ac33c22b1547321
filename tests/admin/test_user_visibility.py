"""What the user pages show a staff member who is not a superuser: people of their
organizations only, and of those people only the memberships in their organizations."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from machines.models import Membership
from tests.admin.pages import admin_url

pytestmark = pytest.mark.django_db

User = get_user_model()


def listed(client, **query) -> set[str]:
    response = client.get(admin_url(User, "changelist"), query)
    assert response.status_code == 200
    return {user.username for user in response.context["cl"].result_list}


def test_a_shared_users_page_shows_only_their_memberships_in_the_managers_organizations(
    staff_client, shared_user, personas
):
    page = staff_client.get(admin_url(User, "change", shared_user.pk))

    (memberships,) = [inline.formset for inline in page.context["inline_admin_formsets"]]
    assert [m.organization for m in memberships.queryset] == [personas.acme]
    assert "Rival" not in page.content.decode()


def test_a_superuser_sees_every_membership_of_a_shared_user(superuser_client, shared_user):
    page = superuser_client.get(admin_url(User, "change", shared_user.pk))

    (memberships,) = [inline.formset for inline in page.context["inline_admin_formsets"]]
    assert memberships.queryset.count() == 2


def test_users_only_in_another_organization_are_neither_listed_nor_found(
    staff_client, personas, shared_user
):
    stranger = personas.stranger
    assert stranger.username not in listed(staff_client)
    assert listed(staff_client, q="rival") == set()
    assert listed(staff_client, q="shared") == {"shared"}

    assert staff_client.get(admin_url(User, "change", stranger.pk)).status_code == 302
    assert staff_client.get(admin_url(User, "password_change", stranger.pk)).status_code == 404


def test_the_role_filter_does_not_reveal_a_role_held_in_another_organization(
    staff_client, superuser_client, shared_user
):
    # shared is an operator in acme and the manager of rival.
    assert listed(staff_client, role="manager") == {"acme-manager"}
    assert "shared" in listed(staff_client, role="operator")
    assert "shared" in listed(superuser_client, role="manager")


def test_a_manager_cannot_bring_a_user_of_another_organization_into_theirs(
    staff_client, personas
):
    response = staff_client.post(
        admin_url(Membership, "add"),
        {"user": str(personas.stranger.pk), "organization": str(personas.acme.pk),
         "role": "operator"},
    )

    assert response.status_code == 200  # the form again, with an error
    assert not personas.stranger.memberships.filter(organization=personas.acme).exists()


def test_the_autocomplete_names_no_user_of_another_organization(staff_client, personas):
    response = staff_client.get(
        "/admin/autocomplete/",
        {"app_label": "machines", "model_name": "membership", "field_name": "user",
         "term": "rival"},
    )

    assert response.status_code in (200, 403)  # 403 while no admin offers the lookup
    assert personas.stranger.username not in response.content.decode()
