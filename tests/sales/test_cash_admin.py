"""Cash collections in the admin: staff record one for their organizations' machines (the
expected amount computed, the collection task closed), and never edit it afterwards."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from machines.models import Organization, Task, TaskKind, TaskStatus
from sales.ingest import ingest_vends
from sales.models import CashCollection
from sales.vends import VendIn

pytestmark = pytest.mark.django_db

ADD = reverse("admin:sales_cashcollection_add")


@pytest.fixture
def staff(sales_staff):
    return sales_staff


def form(machine, amount: int, at) -> dict:
    local = timezone.localtime(at)
    return {"machine": str(machine.pk), "amount": str(amount), "notes": "",
            "collected_at_0": local.strftime("%Y-%m-%d"),
            "collected_at_1": local.strftime("%H:%M:%S")}


def test_staff_record_a_collection_that_closes_the_task(staff, personas):
    Organization.objects.filter(pk=personas.acme.pk).update(cash_collection_threshold=20_000)
    ingest_vends(machine=personas.machine, vends=[
        VendIn("t-1", "1", 25_000, "cash", "", timezone.now() - timedelta(minutes=10))])
    task = Task.objects.get(kind=TaskKind.COLLECTION)
    response = staff.post(ADD, form(personas.machine, 24_000, timezone.now()))
    assert response.status_code == 302, response.content.decode()[:2000]
    collection = CashCollection.objects.get()
    assert (collection.expected, collection.difference, collection.collected_by) == (
        25_000, -1_000, personas.manager)
    assert collection.task == task
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE


def test_a_collection_before_the_last_one_is_a_form_error(staff, personas):
    now = timezone.now()
    CashCollection.objects.create(machine=personas.machine, organization=personas.acme,
                                  collected_at=now, amount=0)
    response = staff.post(ADD, form(personas.machine, 1, now - timedelta(hours=1)))
    assert response.status_code == 200
    assert "collected_at" in response.context["adminform"].form.errors
    assert CashCollection.objects.count() == 1


def test_another_organizations_machine_is_not_a_choice(staff, personas):
    response = staff.post(ADD, form(personas.rival_machine, 1, timezone.now()))
    assert response.status_code == 200
    assert "machine" in response.context["adminform"].form.errors
    assert not CashCollection.objects.exists()


def test_a_recorded_collection_is_read_only(staff, personas):
    collection = CashCollection.objects.create(machine=personas.machine,
                                               organization=personas.acme,
                                               collected_at=timezone.now(), amount=5)
    change = reverse("admin:sales_cashcollection_change", args=[collection.pk])
    assert staff.get(change).status_code == 200
    staff.post(change, {"amount": "999"})
    collection.refresh_from_db()
    assert collection.amount == 5


def test_the_threshold_is_edited_on_the_organization(client, personas):
    from tests.factories import make_user

    client.force_login(make_user("root", is_superuser=True, is_staff=True))
    page = client.get(reverse("admin:machines_organization_change", args=[personas.acme.pk]))
    assert 'name="cash_collection_threshold"' in page.content.decode()
    assert 'value="500000"' in page.content.decode()
