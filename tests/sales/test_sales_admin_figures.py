"""The DailySales changelist shows the staff member the sales figures of what they filtered:
totals, per payment method and the top machines, from their organizations' rows only."""

from __future__ import annotations

from datetime import date

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from sales.models import DailySales
from tests.factories import make_machine, make_user
from tests.sales.conftest import make_product

pytestmark = pytest.mark.django_db

URL = reverse("admin:sales_dailysales_changelist")


@pytest.fixture
def rows(personas, products):
    second = make_machine(personas.acme, name="Station B")
    latte = products["cappuccino"]

    def add(machine, product, day, method, vends, revenue):
        DailySales.objects.create(organization=machine.organization, machine=machine,
                                  product=product, payment_method=method, day=day,
                                  vends=vends, revenue=revenue)

    add(personas.machine, latte, date(2026, 3, 1), "cash", 3, 45000)
    add(personas.machine, latte, date(2026, 3, 2), "card", 1, 15000)
    add(second, latte, date(2026, 4, 1), "mobile", 2, 30000)
    add(personas.rival_machine, make_product(personas.rival, "Rival cola"), date(2026, 3, 1),
        "cash", 100, 999000)
    return second


@pytest.fixture
def staff_client(client, personas):
    personas.manager.is_staff = True
    personas.manager.save()
    personas.manager.user_permissions.set(
        Permission.objects.filter(content_type__app_label="sales"))
    client.force_login(personas.manager)
    return client


def test_staff_see_the_figures_of_their_organizations_only(staff_client, personas, rows):
    response = staff_client.get(URL)
    figures = response.context["sales_figures"]
    assert (figures["revenue"], figures["vends"]) == (90000, 6)
    assert [(m["payment_method"], m["revenue"]) for m in figures["methods"]] == [
        ("cash", 45000), ("mobile", 30000), ("card", 15000)]
    assert [m["machine__name"] for m in figures["top"]] == [personas.machine.name, "Station B"]
    page = response.content.decode()
    assert 'id="sales-figures"' in page and "Rival" not in page
    assert "90,000" in page or "90 000" in page or "90\xa0000" in page


def test_the_figures_follow_the_filters(staff_client, personas, rows):
    figures = staff_client.get(URL, {"day__year": 2026, "day__month": 3}).context[
        "sales_figures"]
    assert (figures["revenue"], figures["vends"]) == (60000, 4)
    figures = staff_client.get(URL, {"payment_method__exact": "mobile"}).context[
        "sales_figures"]
    assert [m["machine__name"] for m in figures["top"]] == ["Station B"]


def test_a_superuser_sees_every_organizations_figures(client, rows):
    client.force_login(make_user("root", is_superuser=True, is_staff=True))
    figures = client.get(URL).context["sales_figures"]
    assert figures["revenue"] == 90000 + 999000


def test_an_empty_selection_sums_to_zero(staff_client, rows):
    figures = staff_client.get(URL, {"q": "no such machine"}).context["sales_figures"]
    assert figures == {"revenue": 0, "vends": 0, "methods": [], "top": []}
