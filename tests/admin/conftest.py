"""Staff clients for the admin: acme's manager as staff with the permissions to manage
users, the fleet and notifications, and a superuser."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from machines.models import Membership, Role
from tests.factories import make_user

STAFF_APPS = ["auth", "machines", "telemetry", "notifications"]


@pytest.fixture
def staff_client(client, personas):
    """acme's manager as staff, with every permission of these apps (users included)."""
    personas.manager.is_staff = True
    personas.manager.save()
    personas.manager.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=STAFF_APPS)
    )
    client.force_login(personas.manager)
    return client


@pytest.fixture
def superuser(db):
    return make_user("root", is_superuser=True, is_staff=True)


@pytest.fixture
def superuser_client(superuser):
    """A client of its own, so that a test may hold it beside `staff_client`."""
    client = Client()
    client.force_login(superuser)
    return client


@pytest.fixture
def shared_user(personas):
    """An operator in acme who is also the manager of rival."""
    user = make_user("shared", organization=personas.acme, role=Role.OPERATOR,
                     email="shared@example.com")
    Membership.objects.create(user=user, organization=personas.rival, role=Role.MANAGER)
    return user
