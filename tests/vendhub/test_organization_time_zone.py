"""Pages show times in the organization's time zone and say which: a fleet in Moscow and
one in Tashkent share a server, not a clock. REST stays in UTC with `Z`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from machines.models import Membership, Role
from machines.selectors import time_zone_for
from tests.conftest import client_for
from tests.factories import make_organization, make_user

pytestmark = pytest.mark.django_db


def page_for(user) -> str:
    client = Client()
    client.force_login(user)
    response = client.get("/tasks/")
    assert response.status_code == 200
    return response.content.decode()


def test_an_organization_has_the_servers_time_zone_until_told_otherwise(personas, settings):
    assert personas.acme.time_zone == settings.TIME_ZONE
    assert f"Times in {settings.TIME_ZONE}" in page_for(personas.operator)


def test_the_dashboard_shows_the_time_zone_of_the_viewers_organization(personas):
    personas.rival.time_zone = "Europe/Moscow"
    personas.rival.save()
    page = page_for(personas.stranger)
    assert "Times in Europe/Moscow" in page and 'data-time-zone="Europe/Moscow"' in page
    assert "Times in Europe/Moscow" not in page_for(personas.operator)  # acme's people


def test_a_person_in_two_organizations_reads_the_first_one_they_joined(personas):
    personas.rival.time_zone = "Europe/Moscow"
    personas.rival.save()
    Membership.objects.create(user=personas.operator, organization=personas.rival,
                              role=Role.OPERATOR)
    assert time_zone_for(personas.operator) == personas.acme.time_zone


def test_a_user_of_no_organization_reads_the_servers_time_zone(settings):
    loner = make_user("loner")
    assert time_zone_for(loner) == settings.TIME_ZONE


def test_an_unknown_time_zone_is_refused_naming_it():
    organization = make_organization("Nowhere")
    organization.time_zone = "Mars/Olympus_Mons"
    with pytest.raises(ValidationError) as refused:
        organization.full_clean()
    assert "time_zone" in refused.value.message_dict


def test_rest_timestamps_stay_in_utc_whatever_the_organizations_zone(personas):
    personas.acme.time_zone = "America/New_York"
    personas.acme.save()
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    type(personas.machine).objects.filter(pk=personas.machine.pk).update(last_seen_at=at)
    client = client_for(personas.manager)
    client.force_login(personas.manager)  # a session too: the middleware sees the user
    body = client.get(f"/api/v1/machines/{personas.machine.pk}/").json()
    assert body["lastSeenAt"] == "2026-03-01T09:30:00Z"
