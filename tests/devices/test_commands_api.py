"""POST/GET /api/v1/machines/{id}/commands/: managers send, the others are refused, a
stranger does not see the machine, a bad body is a 400 naming the field, no broker a 503."""

from __future__ import annotations

import pytest

from devices.models import CommandState, MachineCommand
from machines.models import Role
from tests.conftest import client_for
from tests.factories import make_user
from tests.sales.conftest import planogram, products  # noqa: F401  (fixtures)

BROKER = "mqtt://vendhub_server:secret@127.0.0.1:1"


@pytest.fixture(autouse=True)
def broker_configured(settings):
    settings.MQTT_URL = BROKER


def url(machine) -> str:
    return f"/api/v1/machines/{machine.pk}/commands/"


def send(user, machine, body):
    return client_for(user).post(url(machine), body, format="json")


@pytest.mark.django_db
def test_a_manager_queues_a_command_with_its_expiry(personas, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as published:
        response = send(personas.manager, personas.machine, {"kind": "reboot",
                                                              "ttlSeconds": 60})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "reboot" and body["state"] == "queued" and body["params"] == {}
    assert body["machineId"] == str(personas.machine.pk)
    command = MachineCommand.objects.get(pk=body["commandId"])
    assert command.organization_id == personas.acme.pk
    assert command.created_by == personas.manager and command.state == CommandState.QUEUED
    assert 59 <= (command.expires_at - command.created_at).total_seconds() <= 61
    assert body["timestamps"]["expiresAt"].endswith("Z")
    assert len(published) == 1  # machine:command (queued), after the commit


@pytest.mark.django_db
def test_an_organization_admin_may_send_commands(personas):
    admin = make_user("acme-admin", organization=personas.acme, role=Role.ADMIN)
    assert send(admin, personas.machine, {"kind": "enter_maintenance"}).status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["operator", "viewer"])
def test_operators_and_viewers_may_not_send_commands(personas, who):
    response = send(getattr(personas, who), personas.machine, {"kind": "reboot"})
    assert response.status_code == 403
    assert not MachineCommand.objects.exists()
    # ...but they see the machine's commands.
    assert client_for(getattr(personas, who)).get(url(personas.machine)).status_code == 200


@pytest.mark.django_db
def test_a_stranger_neither_sends_nor_sees_another_organizations_commands(personas):
    send(personas.manager, personas.machine, {"kind": "reboot"})
    assert send(personas.stranger, personas.machine, {"kind": "reboot"}).status_code == 404
    assert client_for(personas.stranger).get(url(personas.machine)).status_code == 404
    assert MachineCommand.objects.count() == 1
    # The stranger's own machine lists none of acme's commands.
    own = client_for(personas.stranger).get(url(personas.rival_machine)).json()
    assert own["count"] == 0


@pytest.mark.django_db
def test_a_manager_of_another_organization_may_not_command_this_one(personas):
    assert send(personas.stranger, personas.machine, {"kind": "reboot"}).status_code == 404
    assert send(personas.manager, personas.rival_machine, {"kind": "reboot"}).status_code == 404


@pytest.mark.django_db
def test_without_a_broker_sending_is_a_503_that_says_so(personas, settings):
    settings.MQTT_URL = ""
    response = send(personas.manager, personas.machine, {"kind": "reboot"})
    assert response.status_code == 503
    assert "MQTT" in response.json()["detail"]
    assert not MachineCommand.objects.exists()
    # An operator is still told no, and the list still answers.
    assert send(personas.operator, personas.machine, {"kind": "reboot"}).status_code == 403
    assert client_for(personas.manager).get(url(personas.machine)).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("body, field", [
    ({}, "kind"),
    ({"kind": "selfdestruct"}, "kind"),
    ({"kind": "reboot", "ttlSeconds": 0}, "ttlSeconds"),
    ({"kind": "reboot", "ttlSeconds": 86_401}, "ttlSeconds"),
    ({"kind": "reboot", "ttlSeconds": "soon"}, "ttlSeconds"),
    ({"kind": "reboot", "params": {"delay": 5}}, "params"),
    ({"kind": "reboot", "params": [1]}, "params"),
])
def test_a_bad_body_is_a_400_naming_the_field(personas, body, field):
    response = send(personas.manager, personas.machine, body)
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not MachineCommand.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("params, fields", [
    ({"selection": "1", "price": 16000}, None),
    ({"selection": "A3", "price": 1}, None),
    ({"selection": "9", "price": 16000}, {"selection"}),
    ({"selection": 1, "price": 16000}, {"selection"}),
    ({"selection": "1", "price": 0}, {"price"}),
    ({"selection": "1", "price": -5}, {"price"}),
    ({"selection": "1", "price": 15.5}, {"price"}),
    ({"selection": "1", "price": True}, {"price"}),
    ({"selection": "1", "price": "16000"}, {"price"}),
    ({}, {"selection", "price"}),
    ({"selection": "1", "price": 100, "slot": 2}, {"params"}),
])
def test_set_price_needs_a_selection_of_the_current_planogram_and_a_positive_price(
        personas, planogram, params, fields):  # noqa: F811
    response = send(personas.manager, personas.machine, {"kind": "set_price", "params": params})
    if fields is None:
        assert response.status_code == 201, response.content
        assert response.json()["params"] == params
        return
    assert response.status_code == 400
    assert set(response.json()["params"]) == fields


@pytest.mark.django_db
def test_set_price_on_a_machine_without_a_planogram_is_a_400_naming_the_selection(personas):
    response = send(personas.manager, personas.machine,
                    {"kind": "set_price", "params": {"selection": "1", "price": 100}})
    assert response.status_code == 400
    assert "planogram" in response.json()["params"]["selection"][0]


@pytest.mark.django_db
def test_the_list_is_newest_first_and_paginated(personas):
    for kind in ("reboot", "enter_maintenance", "request_audit"):
        assert send(personas.manager, personas.machine, {"kind": kind}).status_code == 201
    page = client_for(personas.viewer).get(url(personas.machine), {"page_size": 2}).json()
    assert page["count"] == 3 and page["next"]
    assert [c["kind"] for c in page["results"]] == ["request_audit", "enter_maintenance"]
    assert page["results"][0]["sentBy"] == "acme-manager"


@pytest.mark.django_db
def test_anonymous_is_refused(personas, api_client):
    assert api_client.get(url(personas.machine)).status_code == 401
    assert api_client.post(url(personas.machine), {"kind": "reboot"}).status_code == 401
