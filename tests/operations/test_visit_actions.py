"""POST /api/v1/visits/{id}/actions/: each kind of action at a machine, applied once per
client id, by the route's operator or a manager only, and what it changes for everyone."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection

from machines.models import Role, TaskKind, TaskStatus
from notifications.models import Notification
from operations.models import RouteStatus, SlotStock, Visit, VisitAction, VisitLine, VisitStatus
from operations.visits import apply_visit_action
from realtime.rooms import machine_room, organization_room, tasks_room
from sales.models import CashCollection
from tests.conftest import client_for
from tests.factories import make_bunker, make_machine, make_task, make_user
from tests.operations.visit_routes import action, actions_url, make_route
from tests.telemetry.conftest import sent  # noqa: F401  (fixture)


@pytest.fixture
def route(personas):
    second = make_machine(personas.acme, name="Second")
    make_bunker(second, "Tea", capacity=600, level=100)
    return make_route(personas.acme, personas.operator, [personas.machine, second])


@pytest.fixture
def visit(route):
    return route.visits.order_by("sequence").first()


def post(user, visit, kind, payload=None, client_id=None):
    return client_for(user).post(actions_url(visit), action(kind, payload, client_id),
                                 format="json")


def check_in(user, visit):
    response = post(user, visit, "check_in")
    assert response.status_code == 201, response.data
    return response


def test_check_in_puts_the_route_in_progress_and_keeps_the_location(personas, route, visit):
    response = post(personas.operator, visit, "check_in", {"lat": 41.3, "lng": 69.25})
    assert response.status_code == 201, response.data
    visit.refresh_from_db()
    route.refresh_from_db()
    assert visit.status == VisitStatus.CHECKED_IN and visit.checked_in_at is not None
    assert float(visit.check_in_latitude) == 41.3 and float(visit.check_in_longitude) == 69.25
    assert route.status == RouteStatus.IN_PROGRESS
    assert response.data["replayed"] is False
    assert response.data["route"]["visits"][0]["status"] == "checked_in"


def test_fill_raises_bunker_levels_capped_at_capacity_and_resets_the_estimate(personas, visit):
    check_in(personas.operator, visit)
    coffee, milk = personas.coffee, personas.milk
    coffee.expected_level_grams = 700  # vends since the last reading: the fill starts there
    coffee.save()
    lines = {line.bunker_id: line for line in visit.lines.all()}
    response = post(personas.operator, visit, "fill", {"lines": [
        {"lineId": str(lines[coffee.pk].pk), "filledQuantity": 250},
        {"lineId": str(lines[milk.pk].pk), "filledQuantity": 900}]})
    assert response.status_code == 201, response.data
    coffee.refresh_from_db()
    milk.refresh_from_db()
    assert coffee.current_level_grams == 950 and coffee.expected_level_grams is None
    assert milk.current_level_grams == 2000  # 1500 + 900, capped at its capacity
    assert VisitLine.objects.get(pk=lines[milk.pk].pk).filled_quantity == 900


def test_recording_a_line_again_replaces_the_earlier_quantity(personas, visit):
    check_in(personas.operator, visit)
    line = visit.lines.get(bunker=personas.coffee)
    post(personas.operator, visit, "fill", {"lines": [{"lineId": str(line.pk),
                                                       "filledQuantity": 150}]})
    post(personas.operator, visit, "fill", {"lines": [{"lineId": str(line.pk),
                                                       "filledQuantity": 100}]})
    personas.coffee.refresh_from_db()
    assert personas.coffee.current_level_grams == 900  # 800 + 100, not + 250


def test_fill_of_a_slot_sets_its_stock_capped_at_the_planogram(personas, visit):
    from sales.models import Product
    from sales.services import SelectionSpec, create_planogram_version

    product = Product.objects.create(organization=personas.acme, name="Snickers", sku="SN")
    create_planogram_version(machine=personas.machine, selections=[
        SelectionSpec(code="A1", product_id=product.pk, price=8000, capacity=10, par_level=8)],
        actor=personas.manager)
    line = VisitLine.objects.create(visit=visit, slot_code="A1", product=product,
                                    planned_quantity=8)
    # A new planogram stocks its slots at capacity: four were sold since.
    SlotStock.objects.update_or_create(machine=personas.machine, code="A1",
                                       defaults={"level": 4})
    check_in(personas.operator, visit)
    response = post(personas.operator, visit, "fill", {"lines": [{"lineId": str(line.pk),
                                                                  "filledQuantity": 8}]})
    assert response.status_code == 201, response.data
    stock = SlotStock.objects.get(machine=personas.machine, code="A1")
    assert stock.level == 10 and stock.counted_at is not None


def test_cash_records_a_collection_linked_to_the_visit_and_closes_its_task(personas, visit):
    task = make_task(personas.machine, assignee=personas.operator, kind=TaskKind.COLLECTION)
    check_in(personas.operator, visit)
    response = post(personas.operator, visit, "cash", {"amount": 125000})
    assert response.status_code == 201, response.data
    visit.refresh_from_db()
    collection = CashCollection.objects.get()
    assert visit.cash_collection == collection and collection.amount == 125000
    assert collection.collected_by == personas.operator
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE and collection.task == task
    again = post(personas.operator, visit, "cash", {"amount": 1})
    assert again.status_code == 400 and "kind" in again.data


def test_note_and_skip_reason_are_kept_on_the_visit(personas, route, visit):
    assert post(personas.operator, visit, "note", {"text": "Door locked"}).status_code == 201
    assert post(personas.operator, visit, "skip", {"reason": "No access"}).status_code == 201
    visit.refresh_from_db()
    assert visit.note == "Door locked\nNo access" and visit.status == VisitStatus.SKIPPED


def test_check_out_closes_refill_tasks_of_filled_bunkers_only(personas, visit, sent):  # noqa: F811
    coffee_task = make_task(personas.machine, assignee=personas.operator,
                            kind=TaskKind.REFILL, bunker=personas.coffee)
    milk_task = make_task(personas.machine, assignee=personas.operator, kind=TaskKind.REFILL,
                          bunker=personas.milk)
    check_in(personas.operator, visit)
    line = visit.lines.get(bunker=personas.coffee)
    post(personas.operator, visit, "fill", {"lines": [{"lineId": str(line.pk),
                                                       "filledQuantity": 200}]})
    with sent.capture():
        response = post(personas.operator, visit, "check_out")
    assert response.status_code == 201, response.data
    coffee_task.refresh_from_db()
    milk_task.refresh_from_db()
    assert coffee_task.status == TaskStatus.DONE and milk_task.status == TaskStatus.TODO
    updated = sent.of("task:updated", tasks_room(personas.operator.pk, personas.acme.pk))
    assert [task["id"] for task in updated] == [str(coffee_task.pk)]
    assert Notification.objects.filter(recipient=personas.manager,
                                       title_key="task_done.title").count() == 1


def test_route_is_done_when_every_visit_is_done_or_skipped(personas, route):
    first, second = route.visits.order_by("sequence")
    check_in(personas.operator, first)
    post(personas.operator, first, "check_out")
    route.refresh_from_db()
    assert route.status == RouteStatus.IN_PROGRESS
    post(personas.operator, second, "skip", {"reason": "Closed"})
    route.refresh_from_db()
    assert route.status == RouteStatus.DONE


def test_events_go_out_after_commit_to_the_org_the_board_and_the_machine(personas, visit,
                                                                         sent):  # noqa: F811
    check_in(personas.operator, visit)
    line = visit.lines.get(bunker=personas.coffee)
    with sent.capture():
        post(personas.operator, visit, "fill", {"lines": [{"lineId": str(line.pk),
                                                           "filledQuantity": 200}]})
        assert sent.records == []  # nothing before the commit
    board = tasks_room(personas.operator.pk, personas.acme.pk)
    assert set(sent.rooms("route:updated")) == {board, organization_room(personas.acme.pk)}
    route_doc = sent.of("route:updated", board)[0]
    assert route_doc["visits"][0]["lines"][0]["filledQuantity"] == 200
    telemetry = sent.of("machine:telemetry", machine_room(personas.machine.pk))
    levels = {b["bunkerId"]: b["currentLevel"] for b in telemetry[0]["bunkers"]}
    assert levels[str(personas.coffee.pk)] == 1000


def test_a_replayed_action_returns_the_stored_outcome_and_changes_nothing(personas, visit,
                                                                          sent):  # noqa: F811
    check_in(personas.operator, visit)
    line = visit.lines.get(bunker=personas.coffee)
    client_id = uuid.uuid4()
    body = {"lines": [{"lineId": str(line.pk), "filledQuantity": 100}]}
    assert post(personas.operator, visit, "fill", body, client_id).status_code == 201
    with sent.capture():
        replay = post(personas.operator, visit, "fill", body, client_id)
    assert replay.status_code == 200 and replay.data["replayed"] is True
    personas.coffee.refresh_from_db()
    assert personas.coffee.current_level_grams == 900  # once
    assert sent.records == []
    assert VisitAction.objects.filter(pk=client_id).count() == 1


def test_a_client_id_of_another_action_is_a_400_naming_client_id(personas, route, visit):
    client_id = uuid.uuid4()
    post(personas.operator, visit, "note", {"text": "a"}, client_id)
    other = route.visits.order_by("sequence").last()
    response = post(personas.operator, other, "note", {"text": "a"}, client_id)
    assert response.status_code == 400 and "clientId" in response.data


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_duplicate_is_applied_once(transactional_db):
    from tests.factories import make_personas

    personas = make_personas()
    route = make_route(personas.acme, personas.operator, [personas.machine])
    visit = route.visits.get()
    apply_visit_action(visit=visit, user=personas.operator, client_id=uuid.uuid4(),
                       kind="check_in", payload={})
    line = visit.lines.get(bunker=personas.coffee)
    client_id = uuid.uuid4()
    payload = {"lines": [{"lineId": str(line.pk), "filledQuantity": 100}]}
    barrier = threading.Barrier(2)
    outcomes, errors = [], []

    def send():
        try:
            barrier.wait()
            outcomes.append(apply_visit_action(visit=visit, user=personas.operator,
                                               client_id=client_id, kind="fill",
                                               payload=payload).replayed)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sorted(outcomes) == [False, True]
    personas.coffee.refresh_from_db()
    assert personas.coffee.current_level_grams == 900


@pytest.mark.parametrize(("kind", "payload"), [
    ("fill", None), ("cash", {"amount": 10}), ("check_out", {}),
])
def test_actions_at_the_machine_before_check_in_are_a_400_naming_kind(personas, visit, kind,
                                                                      payload):
    if kind == "fill":
        payload = {"lines": [{"lineId": str(visit.lines.first().pk), "filledQuantity": 1}]}
    response = post(personas.operator, visit, kind, payload)
    assert response.status_code == 400 and "kind" in response.data
    assert not VisitAction.objects.exists()  # refused: a later replay may still apply it


def test_any_action_on_a_done_visit_is_a_400_naming_kind(personas, visit):
    check_in(personas.operator, visit)
    post(personas.operator, visit, "check_out")
    for kind, payload in (("check_in", {}), ("note", {"text": "x"}), ("skip", {"reason": "x"})):
        response = post(personas.operator, visit, kind, payload)
        assert response.status_code == 400 and "kind" in response.data, kind


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "check_in", "payload": {}}, "clientId"),
    ({"clientId": "not-a-uuid", "kind": "check_in"}, "clientId"),
    ({"clientId": str(uuid.uuid4()), "kind": "dance"}, "kind"),
    ({"clientId": str(uuid.uuid4()), "kind": "cash", "payload": {"amount": -1}}, "payload"),
    ({"clientId": str(uuid.uuid4()), "kind": "fill", "payload": {"lines": []}}, "payload"),
    ({"clientId": str(uuid.uuid4()), "kind": "fill",
      "payload": {"lines": [{"lineId": "x", "filledQuantity": 1}]}}, "payload"),
    ({"clientId": str(uuid.uuid4()), "kind": "check_in", "payload": {"lat": 91}}, "payload"),
    ({"clientId": str(uuid.uuid4()), "kind": "note", "payload": {"text": " "}}, "payload"),
    ({"clientId": str(uuid.uuid4()), "kind": "skip", "payload": {}}, "payload"),
    ({"clientId": str(uuid.uuid4()), "kind": "note", "payload": "text"}, "payload"),
])
def test_bad_input_is_a_400_naming_the_field(personas, visit, body, field):
    response = client_for(personas.operator).post(actions_url(visit), body, format="json")
    assert response.status_code == 400 and field in response.data, response.data


def test_a_line_of_another_visit_is_a_400_naming_payload(personas, route, visit):
    check_in(personas.operator, visit)
    other_line = route.visits.order_by("sequence").last().lines.first()
    response = post(personas.operator, visit, "fill", {"lines": [
        {"lineId": str(other_line.pk), "filledQuantity": 10}]})
    assert response.status_code == 400 and "lines" in response.data["payload"]


def test_a_manager_may_act_for_the_operator(personas, visit):
    assert post(personas.manager, visit, "check_in").status_code == 201


def test_a_viewer_and_another_operator_get_403(personas, visit):
    other = make_user("acme-operator-2", organization=personas.acme, role=Role.OPERATOR)
    assert post(personas.viewer, visit, "check_in").status_code == 403
    assert post(other, visit, "check_in").status_code == 403
    assert Visit.objects.get(pk=visit.pk).status == VisitStatus.PLANNED


def test_another_organization_gets_404(personas, visit):
    assert post(personas.stranger, visit, "check_in").status_code == 404


def test_an_operator_who_left_the_organization_gets_404(personas, visit):
    personas.operator.memberships.all().delete()
    assert post(personas.operator, visit, "check_in").status_code == 404


def test_a_two_org_user_acts_only_where_they_operate(personas, visit):
    from machines.models import Membership

    Membership.objects.create(user=personas.operator, organization=personas.rival,
                              role=Role.VIEWER)
    rival_route = make_route(personas.rival, personas.stranger, [personas.rival_machine])
    assert post(personas.operator, rival_route.visits.get(), "check_in").status_code == 403
    assert post(personas.operator, visit, "check_in").status_code == 201


def test_a_cancelled_route_takes_no_action(personas, route, visit):
    route.status = RouteStatus.CANCELLED
    route.save()
    response = post(personas.operator, visit, "check_in")
    assert response.status_code == 400 and "kind" in response.data
