"""Outbound events: every payload matches its schema; model signals emit after commit."""

from __future__ import annotations

import types
import typing
from datetime import UTC, datetime

import pytest

from machines import services as machine_services
from machines.models import Machine, MachineStatus, TaskKind, TaskStatus
from machines.serializers import TaskSerializer
from notifications.models import Notification
from notifications.serializers import NotificationSerializer
from notifications.services import mark_all_read, mark_read, set_read
from realtime import broadcast
from realtime.events import (
    EVENT_SCHEMA_VERSION,
    EVENT_SCHEMAS,
    INVENTORY_LOW,
    MACHINE_STATUS,
    MACHINE_TELEMETRY,
    NOTIFICATION,
    NOTIFICATIONS_READ,
    TASK_UPDATED,
    InventoryLowEvent,
    MachineStatusEvent,
    MachineTelemetryEvent,
    NotificationEvent,
    TaskUpdatedEvent,
    inventory_low_event,
    machine_status_event,
    machine_telemetry_event,
    notification_event,
    task_event,
)
from realtime.rooms import machine_room, map_room, organization_room, tasks_room, user_room
from tests.factories import make_machine_error, make_notification, make_reading, make_task


def assert_matches(value: typing.Any, schema: typing.Any, path: str = "$") -> None:
    """`value` is an instance of `schema`: a TypedDict (exact keys), list[...], a union, or
    a plain JSON type (an int is a valid float)."""
    if typing.is_typeddict(schema):
        hints = typing.get_type_hints(schema)
        assert isinstance(value, dict), f"{path}: expected an object, got {value!r}"
        assert set(value) == set(hints), f"{path}: keys {sorted(value)} != {sorted(hints)}"
        for key, hint in hints.items():
            assert_matches(value[key], hint, f"{path}.{key}")
        return
    origin = typing.get_origin(schema)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(schema):
            try:
                assert_matches(value, option, path)
                return
            except AssertionError as exc:
                errors.append(str(exc))
        raise AssertionError(f"{path}: {value!r} matches no option of {schema}: {errors}")
    if origin is list:
        assert isinstance(value, list), f"{path}: expected a list, got {value!r}"
        [item_schema] = typing.get_args(schema)
        for index, item in enumerate(value):
            assert_matches(item, item_schema, f"{path}[{index}]")
        return
    if schema is type(None):
        assert value is None, f"{path}: expected null, got {value!r}"
    elif schema is float:
        assert isinstance(value, int | float) and not isinstance(value, bool), f"{path}: {value!r}"
    elif schema is int:
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}: {value!r}"
    else:
        assert isinstance(value, schema), f"{path}: expected {schema.__name__}, got {value!r}"


def test_schema_checker_rejects_extra_and_missing_keys():
    good = {"machineId": "m", "status": "online", "timestamp": "2026-03-01T09:00:00Z"}
    assert_matches(good, MachineStatusEvent)
    with pytest.raises(AssertionError):
        assert_matches({**good, "v": 1}, MachineStatusEvent)
    with pytest.raises(AssertionError):
        assert_matches({"machineId": "m", "status": "online"}, MachineStatusEvent)
    with pytest.raises(AssertionError):
        assert_matches({**good, "status": None}, MachineStatusEvent)


def test_every_event_of_the_reference_design_has_a_schema_and_a_version():
    assert set(EVENT_SCHEMAS) == {"machine:status", "machine:telemetry", "inventory:low",
                                  "notification", "task:updated",
                                  # ours: bulk read-state changes, for the other tabs
                                  "notifications:read",
                                  # ours: sales (tests/sales/test_sale_events.py)
                                  "machine:sale", "sales:today",
                                  # ours: the live map's sales (tests/sales/test_live_revenue.py)
                                  "machine:revenue",
                                  # ours: field operations' routes (operations.events)
                                  "route:updated",
                                  # ours: run-out forecasts, of a machine and on the map
                                  # (tests/operations/test_forecast_refresh.py)
                                  "machine:forecast", "machine:runout",
                                  # ours: commands to a machine (devices.events)
                                  "machine:command"}
    assert EVENT_SCHEMA_VERSION == 1


def test_machine_status_payload_is_exactly_the_reference_shape():
    assert set(typing.get_type_hints(MachineStatusEvent)) == {"machineId", "status", "timestamp"}


# -- builders ------------------------------------------------------------------------------

AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@pytest.mark.django_db
def test_builders_match_their_schemas(personas):
    make_reading(personas.machine, timestamp=AT, last_sale_at=AT)
    make_machine_error(personas.machine, severity="critical")
    task = make_task(personas.machine, assignee=personas.operator, kind=TaskKind.REFILL,
                     bunker=personas.coffee)
    notification = make_notification(personas.manager, personas.acme, machine=personas.machine)
    machine = Machine.objects.get(pk=personas.machine.pk)

    status = machine_status_event(machine, at=AT)
    assert status == {"machineId": str(machine.pk), "status": "online",
                      "timestamp": "2026-03-01T09:30:00Z"}
    assert_matches(status, MachineStatusEvent)
    assert_matches(machine_telemetry_event(machine), MachineTelemetryEvent)
    coffee = personas.coffee
    assert_matches(inventory_low_event(coffee, level=100, at=AT), InventoryLowEvent)
    assert_matches(notification_event(notification), NotificationEvent)
    assert_matches(task_event(task), TaskUpdatedEvent)


@pytest.mark.django_db
def test_task_and_notification_events_are_the_rest_documents(personas):
    task = make_task(personas.machine, assignee=personas.operator)
    notification = make_notification(personas.manager, personas.acme)
    assert task_event(task) == dict(TaskSerializer(task).data)
    assert notification_event(notification) == {
        **NotificationSerializer(notification).data, "id": str(notification.pk)}


@pytest.mark.django_db
def test_inventory_low_event_describes_the_bunker(personas):
    event = inventory_low_event(personas.coffee, level=150, at=AT)
    assert event["percentage"] == 15.0 and event["lowLevelAlert"] is True
    assert event["maxLevel"] == 1000 and event["thresholdPercent"] == 20
    assert event["ingredientName"] == "Coffee" and event["machineName"] == personas.machine.name


# -- model signals -------------------------------------------------------------------------


@pytest.fixture
def sent(monkeypatch, django_capture_on_commit_callbacks):
    records: list[tuple[str, str, typing.Any]] = []
    monkeypatch.setattr(broadcast, "publish_rollback_unsafe",
                        lambda room, event, payload: records.append((room, event, payload)))
    records_capture = django_capture_on_commit_callbacks
    return records, records_capture


def _check(records) -> None:
    for _, event, payload in records:
        assert_matches(payload, EVENT_SCHEMAS[event])


@pytest.mark.django_db
def test_a_new_notification_reaches_its_recipient_only_after_commit(personas, sent):
    records, capture = sent
    with capture(execute=False) as callbacks:
        notification = make_notification(personas.manager, personas.acme)
        assert records == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert [(room, event) for room, event, _ in records] == [
        (user_room(personas.manager.pk), NOTIFICATION)]
    assert records[0][2]["id"] == str(notification.pk)
    _check(records)


@pytest.mark.django_db
def test_marking_a_notification_read_sends_it_again_read(personas, sent):
    records, capture = sent
    notification = make_notification(personas.manager, personas.acme)
    with capture(execute=True):
        mark_read(notification=notification)
    assert [(room, event, payload["id"], payload["read"]) for room, event, payload in records] \
        == [(user_room(personas.manager.pk), NOTIFICATION, str(notification.pk), True)]
    _check(records)
    records.clear()
    with capture(execute=True):
        mark_read(notification=notification)  # already read: no write, nothing sent
    assert records == []


@pytest.mark.django_db
def test_mark_all_read_sends_the_changed_ids_once_to_their_recipient(personas, sent):
    records, capture = sent
    unread = [make_notification(personas.manager, personas.acme) for _ in range(3)]
    already_read = make_notification(personas.manager, personas.acme)
    Notification.objects.filter(pk=already_read.pk).update(read=True)
    someone_else = make_notification(personas.operator, personas.acme)
    records.clear()
    with capture(execute=False) as callbacks:
        assert mark_all_read(recipient=personas.manager) == 3
        assert records == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert len(records) == 1
    room, event, payload = records[0]
    assert (room, event, payload["read"]) == (user_room(personas.manager.pk),
                                              NOTIFICATIONS_READ, True)
    assert sorted(payload["ids"]) == sorted(str(n.pk) for n in unread)
    _check(records)
    assert not Notification.objects.get(pk=someone_else.pk).read


@pytest.mark.django_db
def test_marking_unread_in_bulk_names_each_recipients_own_ids(personas, sent):
    records, capture = sent
    mine = make_notification(personas.manager, personas.acme)
    theirs = make_notification(personas.operator, personas.acme)
    Notification.objects.update(read=True)
    with capture(execute=True):
        set_read(notifications=Notification.objects.all(), read=False)
    assert sorted((room, tuple(payload["ids"]), payload["read"])
                  for room, _, payload in records) == sorted([
        (user_room(personas.manager.pk), (str(mine.pk),), False),
        (user_room(personas.operator.pk), (str(theirs.pk),), False)])


@pytest.mark.django_db
def test_a_saved_task_goes_to_its_assignee_and_the_organization(personas, sent):
    records, capture = sent
    with capture(execute=True):
        task = make_task(personas.machine, assignee=personas.operator)
    assert sorted(room for room, _, _ in records) == sorted(
        [tasks_room(personas.operator.pk, personas.acme.pk), organization_room(personas.acme.pk)])
    assert {event for _, event, _ in records} == {TASK_UPDATED}
    assert records[0][2]["id"] == str(task.pk)
    _check(records)


@pytest.mark.django_db
def test_a_status_change_of_a_task_is_sent(personas, sent):
    records, capture = sent
    task = make_task(personas.machine, assignee=personas.operator)
    with capture(execute=True):
        machine_services.change_task_status(task=task, status=TaskStatus.DONE,
                                            actor=personas.operator)
    board = tasks_room(personas.operator.pk, personas.acme.pk)
    [payload] = [p for room, _, p in records if room == board]
    assert payload["status"] == "done"


@pytest.mark.django_db
def test_a_reassigned_task_also_leaves_the_previous_assignees_board(personas, sent):
    from tests.factories import make_user

    other = make_user("acme-operator-2", organization=personas.acme, role="operator")
    task = make_task(personas.machine, assignee=personas.operator)
    records, capture = sent
    with capture(execute=True):
        machine_services.assign_task(task=task, assignee=other, actor=personas.manager)
    assert {room for room, event, _ in records if event == "task:updated"} == {
        tasks_room(personas.operator.pk, personas.acme.pk),
        tasks_room(other.pk, personas.acme.pk), organization_room(personas.acme.pk)}


@pytest.mark.django_db
def test_a_status_saved_through_the_orm_sends_machine_status(personas, sent):
    records, capture = sent
    with capture(execute=True):
        machine_services.put_machines_into_maintenance(
            machines=Machine.objects.filter(pk=personas.machine.pk), actor=personas.manager)
    assert sorted((room, event) for room, event, _ in records) == sorted([
        (machine_room(personas.machine.pk), MACHINE_STATUS),
        (map_room(personas.acme.pk), MACHINE_STATUS)])
    assert records[0][2]["status"] == MachineStatus.MAINTENANCE
    _check(records)


@pytest.mark.django_db
def test_saving_a_machine_without_a_status_change_sends_nothing(personas, sent):
    records, capture = sent
    machine = Machine.objects.get(pk=personas.machine.pk)
    with capture(execute=True):
        machine.name = "Renamed"
        machine.save()
        machine.status = MachineStatus.ERROR
        machine.save(update_fields=["name"])  # the status change is not saved
    assert records == []


def test_event_names_are_the_reference_names():
    assert (MACHINE_STATUS, MACHINE_TELEMETRY, INVENTORY_LOW, NOTIFICATION, TASK_UPDATED) == (
        "machine:status", "machine:telemetry", "inventory:low", "notification", "task:updated")


@pytest.mark.django_db
def test_emit_org_event_sends_a_registered_event_to_the_organization_after_commit(personas,
                                                                                   sent):
    from realtime.events import emit_org_event, inventory_low_event

    records, capture = sent
    payload = inventory_low_event(personas.coffee, level=10, at=personas.machine.created_at)
    with capture(execute=True):
        emit_org_event(personas.acme, INVENTORY_LOW, payload)
        emit_org_event(str(personas.rival.pk), INVENTORY_LOW, payload)
    assert [(room, event) for room, event, _ in records] == [
        (organization_room(personas.acme.pk), INVENTORY_LOW),
        (organization_room(personas.rival.pk), INVENTORY_LOW)]
    _check(records)


def test_emit_org_event_refuses_an_event_without_a_schema():
    from realtime.events import emit_org_event

    with pytest.raises(ValueError, match="no schema"):
        emit_org_event("6f1c2a52-0000-4000-8000-000000000001", "secret:event", {})
