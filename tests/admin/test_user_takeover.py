"""A staff member may change only the people who belong to organizations they manage and
to no other: someone who also works for another organization cannot be taken over
(password, account fields, deletion), and nobody but a superuser grants privileges."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.admin.pages import admin_url, submitted_form
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

User = get_user_model()
ATTEMPTED = "taken-over-9 staple"


def set_password(client, user, password: str = ATTEMPTED):
    return client.post(
        admin_url(User, "password_change", user.pk),
        {"usable_password": "true", "password1": password, "password2": password},
    )


def can_log_in(user, password: str) -> bool:
    return Client().login(username=user.username, password=password)


def test_a_manager_cannot_set_the_password_of_a_user_in_another_organization(
    staff_client, shared_user
):
    assert staff_client.get(admin_url(User, "password_change", shared_user.pk)).status_code == 403
    assert set_password(staff_client, shared_user).status_code == 403

    assert not can_log_in(shared_user, ATTEMPTED)
    assert can_log_in(shared_user, PASSWORD)


def test_a_manager_cannot_edit_a_user_in_another_organization(staff_client, shared_user):
    page = staff_client.get(admin_url(User, "change", shared_user.pk))
    assert page.status_code == 200
    editable = {"username", "email", "is_active", "memberships-0-role"}
    assert not editable & set(submitted_form(page))

    response = staff_client.post(
        admin_url(User, "change", shared_user.pk),
        {"username": "hijacked", "email": "thief@example.com", "first_name": "", "last_name": ""},
    )

    assert response.status_code == 403
    shared_user.refresh_from_db()
    assert (shared_user.username, shared_user.email, shared_user.is_active) == (
        "shared", "shared@example.com", True,
    )


def test_a_manager_cannot_delete_a_user_in_another_organization(staff_client, shared_user):
    assert staff_client.get(admin_url(User, "delete", shared_user.pk)).status_code == 403
    deleting = staff_client.post(admin_url(User, "delete", shared_user.pk), {"post": "yes"})
    assert deleting.status_code == 403
    staff_client.post(
        admin_url(User, "changelist"),
        {"action": "delete_selected", "_selected_action": [str(shared_user.pk)], "post": "yes"},
    )
    assert User.objects.filter(pk=shared_user.pk).exists()


def test_a_manager_can_edit_and_set_the_password_of_a_user_only_in_their_organization(
    staff_client, personas
):
    operator = personas.operator
    page = staff_client.get(admin_url(User, "change", operator.pk))
    data = submitted_form(page)
    data["email"] = ["operator@acme.example"]
    saved = staff_client.post(admin_url(User, "change", operator.pk), data)
    assert saved.status_code == 302, saved.content.decode()[:3000]
    operator.refresh_from_db()
    assert operator.email == "operator@acme.example"

    assert set_password(staff_client, operator).status_code == 302
    assert can_log_in(operator, ATTEMPTED)


def test_a_manager_cannot_take_over_another_staff_account_of_their_organization(
    staff_client, personas
):
    # Another staff member may hold permissions the manager lacks.
    personas.viewer.is_staff = True
    personas.viewer.save()

    assert set_password(staff_client, personas.viewer).status_code == 403
    assert not can_log_in(personas.viewer, ATTEMPTED)


def test_a_manager_cannot_make_anyone_staff_or_superuser(staff_client, personas):
    operator = personas.operator
    data = submitted_form(staff_client.get(admin_url(User, "change", operator.pk)))
    data.update({"is_staff": ["on"], "is_superuser": ["on"], "user_permissions": ["1", "2"]})

    assert staff_client.post(admin_url(User, "change", operator.pk), data).status_code == 302

    operator.refresh_from_db()
    assert not operator.is_staff and not operator.is_superuser
    assert not operator.user_permissions.exists()


def test_a_superuser_may_still_set_the_password_of_a_user_in_several_organizations(
    superuser_client, shared_user
):
    assert set_password(superuser_client, shared_user).status_code == 302
    assert can_log_in(shared_user, ATTEMPTED)


def test_a_manager_can_delete_a_user_only_in_their_organization(staff_client, personas):
    response = staff_client.post(admin_url(User, "delete", personas.viewer.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not User.objects.filter(pk=personas.viewer.pk).exists()
