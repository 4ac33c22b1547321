"""machines.selectors: the one place that decides which organizations a user sees."""

import pytest
from django.contrib.auth.models import AnonymousUser

from machines import selectors
from machines.models import Bunker, Role
from tests.factories import make_bunker, make_machine, make_user

pytestmark = pytest.mark.django_db


def test_a_member_sees_only_the_machines_of_their_organization(personas):
    assert list(selectors.machines_for(personas.operator)) == [personas.machine]
    assert list(selectors.machines_for(personas.stranger)) == [personas.rival_machine]


def test_a_user_in_two_organizations_sees_both_fleets(personas):
    from machines.models import Membership

    Membership.objects.create(user=personas.viewer, organization=personas.rival, role=Role.VIEWER)
    assert set(selectors.machines_for(personas.viewer)) == {
        personas.machine,
        personas.rival_machine,
    }


def test_a_superuser_without_membership_sees_nothing_through_the_api_selectors(personas):
    root = make_user("root", is_superuser=True, is_staff=True)
    assert not selectors.machines_for(root).exists()
    assert selectors.admin_organization_ids(root) is None


def test_anonymous_users_see_nothing(personas):
    assert not selectors.machines_for(AnonymousUser()).exists()
    assert not selectors.tasks_for(AnonymousUser()).exists()


def test_is_manager_of_is_true_only_for_managing_roles_of_that_organization(personas):
    assert selectors.is_manager_of(personas.manager, personas.acme.pk)
    assert not selectors.is_manager_of(personas.operator, personas.acme.pk)
    assert not selectors.is_manager_of(personas.viewer, personas.acme.pk)
    assert not selectors.is_manager_of(personas.stranger, personas.acme.pk)


def test_operators_in_lists_only_operators_of_the_organization(personas):
    make_user("rival-operator", organization=personas.rival, role=Role.OPERATOR)
    assert list(selectors.operators_in(personas.acme)) == [personas.operator]
    assert list(selectors.operators_managed_by(personas.manager)) == [personas.operator]
    assert not selectors.operators_managed_by(personas.operator).exists()


def test_map_points_are_located_machines_of_the_user_with_float_coordinates(personas):
    make_machine(personas.acme, name="Nowhere", latitude=None, longitude=None)
    points = selectors.machine_map_points_for(personas.manager)
    assert points == [
        {
            "id": str(personas.machine.pk),
            "name": personas.machine.name,
            "lat": 41.2995,
            "lng": 69.2401,
            "status": "online",
        }
    ]


def test_low_bunker_condition_agrees_with_the_model_property(personas):
    make_bunker(personas.machine, "Sugar", capacity=1000, level=199, threshold=20)
    make_bunker(personas.machine, "Cocoa", capacity=1000, level=200, threshold=20)
    low_in_sql = set(Bunker.objects.filter(selectors.low_bunker_condition()))
    low_in_python = {bunker for bunker in Bunker.objects.all() if bunker.low_level_alert}
    assert low_in_sql == low_in_python
    assert {bunker.ingredient.name for bunker in low_in_sql} == {"Sugar"}
