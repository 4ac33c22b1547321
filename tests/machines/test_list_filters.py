"""The documented filters of every list endpoint narrow the list; a malformed filter value
is a 400 that names the parameter, never a silent empty page."""

from __future__ import annotations

import pytest

from machines.models import Ingredient, MachineStatus, Membership, Role, TaskKind, TaskStatus
from tests.conftest import client_for
from tests.factories import make_machine, make_notification, make_task, make_user

pytestmark = pytest.mark.django_db


def ids(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {str(row["id"]) for row in response.json()["results"]}


@pytest.fixture
def manager(personas):
    """acme's manager, also a viewer of the rival organization (two fleets to filter)."""
    Membership.objects.create(user=personas.manager, organization=personas.rival,
                              role=Role.VIEWER)
    return client_for(personas.manager)


def test_machines_by_status_organization_responsible_operator_and_search(personas, manager):
    broken = make_machine(personas.acme, name="Lobby", status=MachineStatus.ERROR)
    own, rival = str(personas.machine.pk), str(personas.rival_machine.pk)
    assert ids(manager.get("/api/v1/machines/", {"status": "error"})) == {str(broken.pk)}
    assert ids(manager.get("/api/v1/machines/", {"organization": personas.rival.pk})) == {rival}
    assert ids(manager.get("/api/v1/machines/",
                           {"responsibleOperator": personas.operator.pk})) == {own}
    assert ids(manager.get("/api/v1/machines/", {"search": "lobby"})) == {str(broken.pk)}


def test_ingredients_by_organization_and_search(personas, manager):
    tea = Ingredient.objects.get(organization=personas.rival)
    assert ids(manager.get("/api/v1/ingredients/", {"organization": personas.rival.pk})) == {
        str(tea.pk)}
    assert ids(manager.get("/api/v1/ingredients/", {"search": "milk"})) == {
        str(personas.milk.ingredient_id)}


def test_tasks_by_kind_priority_machine_and_open(personas, manager):
    refill = make_task(personas.machine, kind=TaskKind.REFILL, priority="high")
    done = make_task(personas.machine, status=TaskStatus.DONE)
    elsewhere = make_task(make_machine(personas.acme), kind=TaskKind.REPAIR)
    url = "/api/v1/tasks/"
    assert ids(manager.get(url, {"kind": "refill"})) == {str(refill.pk)}
    assert ids(manager.get(url, {"priority": "high"})) == {str(refill.pk)}
    assert ids(manager.get(url, {"machine": elsewhere.machine_id})) == {str(elsewhere.pk)}
    assert ids(manager.get(url, {"open": "false"})) == {str(done.pk)}
    assert ids(manager.get(url, {"open": "true"})) == {str(refill.pk), str(elsewhere.pk)}
    assert ids(manager.get(url, {"assignee": "none"})) == {
        str(refill.pk), str(done.pk), str(elsewhere.pk)}


def test_operators_by_organization(personas, manager):
    make_user("rival-operator", organization=personas.rival, role=Role.OPERATOR)
    operators = manager.get("/api/v1/operators/", {"organization": personas.acme.pk})
    assert ids(operators) == {str(personas.operator.pk)}
    # The manager only views the rival organization: its operators are not offered.
    assert ids(manager.get("/api/v1/operators/", {"organization": personas.rival.pk})) == set()


def test_notifications_by_read_type_priority_and_search(personas, manager):
    warning = make_notification(personas.manager, personas.acme, type="warning",
                                priority="high", title="Too hot: Lobby")
    read = make_notification(personas.manager, personas.acme, read=True, title="Old news")
    url = "/api/v1/notifications/"
    assert ids(manager.get(url, {"type": "warning"})) == {str(warning.pk)}
    assert ids(manager.get(url, {"priority": "high"})) == {str(warning.pk)}
    assert ids(manager.get(url, {"read": "true"})) == {str(read.pk)}
    assert ids(manager.get(url, {"search": "hot"})) == {str(warning.pk)}


@pytest.mark.parametrize("url, params, name", [
    ("/api/v1/machines/", {"status": "exploded"}, "status"),
    ("/api/v1/machines/", {"organization": "not-a-uuid"}, "organization"),
    ("/api/v1/ingredients/", {"organization": "42"}, "organization"),
    ("/api/v1/tasks/", {"kind": "party"}, "kind"),
    ("/api/v1/tasks/", {"machine": "nope"}, "machine"),
    ("/api/v1/tasks/", {"assignee": "someone"}, "assignee"),
    ("/api/v1/notifications/", {"type": "gossip"}, "type"),
])
def test_a_malformed_filter_value_is_a_400_naming_the_parameter(personas, manager, url,
                                                                params, name):
    response = manager.get(url, params)
    assert response.status_code == 400
    assert name in response.json()
