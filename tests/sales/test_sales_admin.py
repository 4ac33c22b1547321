"""The sales admins: every model registered with columns, filters and search; staff see only
their organizations' rows, and the product choices of a selection are theirs."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.urls import reverse

from sales.models import (
    DailySales,
    Planogram,
    Product,
    RecipeItem,
    Selection,
    Vend,
)
from tests.factories import make_user
from tests.sales.conftest import EPOCH, make_product
from tests.test_admin import admin_models

pytestmark = pytest.mark.django_db


def url(model, view: str, *args) -> str:
    return reverse(f"admin:sales_{model._meta.model_name}_{view}", args=args)


def test_every_sales_model_is_registered_with_columns_filters_and_search():
    for model in admin_models("sales"):
        model_admin = admin.site._registry[model]
        assert len(model_admin.list_display) >= 3, model
        assert model_admin.list_filter and model_admin.search_fields, model


@pytest.fixture
def rows(personas, planogram, products):
    selection = planogram.selections.get(code="1")
    vend = Vend.objects.create(machine=personas.machine, transaction_id="t1", selection="1",
                               product=products["cappuccino"], price=15000,
                               payment_method="cash", timestamp=EPOCH)
    daily = DailySales.objects.create(organization=personas.acme, machine=personas.machine,
                                      product=products["cappuccino"], payment_method="cash",
                                      day=EPOCH.date(), vends=1, revenue=15000)
    return {Product: products["cappuccino"], Planogram: planogram, Selection: selection,
            RecipeItem: selection.recipe.first(), Vend: vend, DailySales: daily}


def test_superuser_gets_every_page(client, rows):
    client.force_login(make_user("root", is_superuser=True, is_staff=True))
    for model, obj in rows.items():
        assert client.get(url(model, "changelist"), {"q": "a"}).status_code == 200, model
        assert client.get(url(model, "change", obj.pk)).status_code == 200, model


def test_staff_see_only_their_organizations_rows(client, personas, rows):
    rival_product = make_product(personas.rival, "Rival cola")
    rival_planogram = Planogram.objects.create(machine=personas.rival_machine,
                                               effective_from=EPOCH)
    personas.manager.is_staff = True
    personas.manager.save()
    personas.manager.user_permissions.set(
        Permission.objects.filter(content_type__app_label="sales"))
    client.force_login(personas.manager)
    for model, obj in rows.items():
        response = client.get(url(model, "changelist"))
        assert obj.pk in {row.pk for row in response.context["cl"].result_list}, model
    assert client.get(url(Product, "change", rival_product.pk)).status_code == 302
    assert client.get(url(Planogram, "change", rival_planogram.pk)).status_code == 302
    form = client.get(url(Planogram, "change", rows[Planogram].pk)).content.decode()
    assert "Rival cola" not in form and "Snickers" in form
