"""A cash-collection task opens when a machine's estimated cash reaches its organization's
threshold: one per machine however many batches cross it, for the responsible operator
while they are an active operator of the organization."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from machines.models import Membership, Organization, Role, Task, TaskKind, TaskStatus
from notifications.models import Notification
from realtime.rooms import tasks_room
from sales.audits import import_audit
from sales.cash import collection_texts, open_collection_task_if_due
from sales.ingest import ingest_vends
from sales.vends import VendIn
from tests.conftest import require_postgresql
from tests.factories import make_task
from tests.sales.cashaudits import cash_audit
from tests.sales.conftest import post_vends, vend_body

pytestmark = pytest.mark.django_db

THRESHOLD = 500_000


@pytest.fixture(autouse=True)
def threshold(personas):
    Organization.objects.filter(pk=personas.acme.pk).update(cash_collection_threshold=THRESHOLD)


def sell(machine, count: int, price: int = 100_000, method: str = "cash", start: int = 0):
    now = timezone.now()
    ingest_vends(machine=machine, vends=[
        VendIn(f"t-{start + i}", "1", price, method, "", now - timedelta(seconds=count - i))
        for i in range(count)])


def collection_tasks():
    return Task.objects.filter(kind=TaskKind.COLLECTION)


def test_reaching_the_threshold_opens_one_task_for_the_responsible_operator(personas, sent):
    sell(personas.machine, 4)
    assert not collection_tasks().exists()
    with sent.capture():
        sell(personas.machine, 1, start=4)  # 500 000: reached
    task = collection_tasks().get()
    assert (task.assignee, task.status, task.created_by) == (personas.operator, "todo", None)
    assert task.title == f"Collect cash at {personas.machine.name}"
    assert (task.title_key, task.params["expected"], task.params["threshold"]) == (
        "cash_collection.title", 500_000, THRESHOLD)
    board = tasks_room(personas.operator.pk, personas.acme.pk)
    assert [p["id"] for p in sent.of("task:updated", board)] == [str(task.pk)]


def test_more_batches_past_the_threshold_open_no_second_task(personas):
    sell(personas.machine, 6)
    sell(personas.machine, 3, start=6)
    sell(personas.machine, 3, start=9)
    assert collection_tasks().count() == 1


def test_the_operator_is_notified_that_the_cash_box_is_full(personas):
    sell(personas.machine, 5)
    [notification] = Notification.objects.filter(recipient=personas.operator,
                                                 title_key="task_assigned.title")
    assert notification.message_key == "task_assigned.automatic_collection"
    assert "passed the collection threshold" in notification.message


def test_below_the_threshold_no_task(personas):
    sell(personas.machine, 4, price=124_999)
    assert not collection_tasks().exists()


def test_card_and_mobile_sales_never_fill_the_cash_box(personas):
    sell(personas.machine, 10, method="card")
    sell(personas.machine, 10, method="mobile", start=10)
    assert not collection_tasks().exists()


def test_a_threshold_of_zero_turns_the_tasks_off(personas):
    Organization.objects.filter(pk=personas.acme.pk).update(cash_collection_threshold=0)
    sell(personas.machine, 50)
    assert not collection_tasks().exists()


def test_each_organization_has_its_own_threshold(personas):
    Organization.objects.filter(pk=personas.rival.pk).update(cash_collection_threshold=10_000_000)
    sell(personas.rival_machine, 6)
    sell(personas.machine, 6)
    assert list(collection_tasks().values_list("machine", flat=True)) == [personas.machine.pk]


def test_an_open_collection_task_a_manager_made_counts_as_open(personas):
    make_task(personas.machine, kind=TaskKind.COLLECTION, created_by=personas.manager,
              assignee=personas.operator)
    sell(personas.machine, 6)
    assert collection_tasks().count() == 1


def test_after_the_task_is_done_without_a_collection_the_next_cash_sale_opens_another(personas):
    sell(personas.machine, 5)
    collection_tasks().update(status=TaskStatus.DONE)
    sell(personas.machine, 1, start=5)
    assert collection_tasks().filter(status=TaskStatus.TODO).count() == 1


def test_a_device_posting_cash_vends_opens_the_task(personas, device, planogram):
    at = datetime.now(UTC) - timedelta(minutes=1)
    body = [vend_body(personas.machine, f"t-{i}", price=250_000, at=at) for i in range(2)]
    assert post_vends(device, body).status_code == 201
    assert collection_tasks().get().assignee == personas.operator


def test_an_audit_showing_the_box_full_opens_the_task(coffee_machine):
    tz = coffee_machine.organization.time_zone
    now = timezone.now().replace(second=0, microsecond=0)
    import_audit(machine=coffee_machine, source="device", now=now - timedelta(days=3),
                 text=cash_audit(read_at=now - timedelta(days=3), time_zone=tz))
    at_collection = now - timedelta(days=1)
    import_audit(machine=coffee_machine, source="device", now=at_collection,
                 text=cash_audit(read_at=at_collection, time_zone=tz, to_box=10_000))
    from sales.models import CashCollection

    CashCollection.objects.create(machine=coffee_machine, organization_id=coffee_machine
                                  .organization_id, collected_at=at_collection, amount=0)
    assert not collection_tasks().exists()
    # No cash vend reached the API (the device was offline), but the coin box took 600 000.
    import_audit(machine=coffee_machine, source="device", now=now,
                 text=cash_audit(read_at=now, time_zone=tz, to_box=10_000 + 600_000))
    assert collection_tasks().get().params["expected"] == 600_000


# -- who receives it: the refill tasks' rule --


def test_an_operator_who_left_the_organization_receives_no_collection_task(personas):
    Membership.objects.filter(user=personas.operator, organization=personas.acme).delete()
    sell(personas.machine, 5)
    assert collection_tasks().get().assignee is None


def test_a_responsible_user_who_is_no_longer_an_operator_receives_no_collection_task(personas):
    Membership.objects.filter(user=personas.operator).update(role=Role.VIEWER)
    sell(personas.machine, 5)
    assert collection_tasks().get().assignee is None


def test_a_deactivated_operator_receives_no_collection_task(personas):
    personas.operator.is_active = False
    personas.operator.save()
    sell(personas.machine, 5)
    assert collection_tasks().get().assignee is None


def test_a_machine_without_a_responsible_operator_gets_an_unassigned_task(personas):
    type(personas.machine).objects.filter(pk=personas.machine.pk).update(
        responsible_operator=None)
    sell(personas.machine, 5)
    assert collection_tasks().get().assignee is None


# -- one open task per machine, by the database --


def test_the_database_refuses_a_second_open_server_task_for_a_machine(personas):
    texts = collection_texts(machine=personas.machine, expected=1, threshold=1)
    Task.objects.create(organization=personas.acme, machine=personas.machine,
                        kind=TaskKind.COLLECTION, **texts)
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.create(organization=personas.acme, machine=personas.machine,
                            kind=TaskKind.COLLECTION, **texts)


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_batch_that_loses_the_race_opens_no_second_task(personas):
    """Batch A has inserted its task and not committed yet: batch B's check does not see it,
    tries to insert, waits on the unique index, and gets nothing once A commits."""
    require_postgresql("needs PostgreSQL's row locks")
    sell(personas.machine, 4)  # 400 000: under the threshold
    Organization.objects.filter(pk=personas.acme.pk).update(cash_collection_threshold=400_000)
    machine = type(personas.machine).objects.select_related("organization").get(
        pk=personas.machine.pk)
    inserted, result = threading.Event(), {}

    def batch_b():
        try:
            inserted.wait(10)
            result["b"] = open_collection_task_if_due(machine=machine)
        finally:
            connection.close()

    other = threading.Thread(target=batch_b)
    other.start()
    with transaction.atomic():
        texts = collection_texts(machine=machine, expected=400_000, threshold=400_000)
        mine = Task.objects.create(organization=personas.acme, machine=machine,
                                   kind=TaskKind.COLLECTION, **texts)
        inserted.set()
        # B's check runs its query (it cannot see `mine`) and blocks on the insert.
        deadline = timezone.now() + timedelta(seconds=10)
        while not (waited := _waiting_on_a_lock()) and timezone.now() < deadline:
            threading.Event().wait(0.05)
    other.join(10)
    assert waited, "batch B never waited on the insert: the race was not run"
    assert result == {"b": None}
    assert list(collection_tasks().values_list("pk", flat=True)) == [mine.pk]


def _waiting_on_a_lock() -> bool:
    from django.db import connections

    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # else one view per transaction
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                       "AND datname = current_database()")
        return cursor.fetchone()[0] > 0


# -- the check after each batch: one statement, the same cash as the estimate --


def test_the_check_after_a_batch_is_one_query(personas, django_assert_num_queries):
    sell(personas.machine, 2)
    machine = type(personas.machine).objects.select_related("organization").get(
        pk=personas.machine.pk)
    with django_assert_num_queries(1):  # under the threshold
        assert open_collection_task_if_due(machine=machine) is None
    sell(personas.machine, 5, start=2)
    with django_assert_num_queries(1):  # a task is open
        assert open_collection_task_if_due(machine=machine) is None


def test_the_checks_cash_is_the_estimates(personas):
    from sales.cash import _probe, cash_position
    from sales.models import CashCollection

    now = timezone.now()
    assert _probe(personas.machine).vend_cash == 0
    sell(personas.machine, 3, price=10_000)
    sell(personas.machine, 2, price=99_000, method="card", start=3)
    assert _probe(personas.machine).vend_cash == cash_position(
        machine=personas.machine).estimate.expected == 30_000
    CashCollection.objects.create(machine=personas.machine, organization=personas.acme,
                                  collected_at=now - timedelta(seconds=2), amount=0)
    probe, estimate = _probe(personas.machine), cash_position(machine=personas.machine).estimate
    assert probe.vend_cash == estimate.expected == 20_000  # the two sold after it
    assert (probe.task_open, probe.audited) == (False, False)


def test_reopening_a_collection_task_while_another_is_open_is_a_400(personas):
    from tests.conftest import client_for

    sell(personas.machine, 5)
    first = collection_tasks().get()
    collection_tasks().update(status=TaskStatus.DONE)
    sell(personas.machine, 1, start=5)  # still uncollected: a second task opens
    response = client_for(personas.manager).patch(f"/api/v1/tasks/{first.pk}/",
                                                  {"status": "in_progress"}, format="json")
    assert response.status_code == 400 and list(response.json()) == ["status"]
    first.refresh_from_db()
    assert first.status == TaskStatus.DONE
