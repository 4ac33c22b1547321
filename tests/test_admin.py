"""The admin back office: every page renders for a superuser; staff see only their
organizations' objects; the bulk actions work."""

from __future__ import annotations

import uuid

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from machines.models import (
    Bunker,
    Ingredient,
    Machine,
    MachineStatus,
    Membership,
    Organization,
    Task,
    TaskStatus,
)
from notifications.models import LanguagePreference, Notification
from sales.models import (
    AuditRecord,
    CashCollection,
    DailyMachineSales,
    DailyProductSales,
    DailySales,
    Planogram,
    Product,
    RecipeItem,
    Selection,
    Vend,
    VendKey,
)
from telemetry.device_keys import issue_device_key
from telemetry.models import DeviceKey, MachineError, MachineHealth, TelemetryReading
from tests.factories import (
    make_machine_error,
    make_notification,
    make_reading,
    make_task,
    make_user,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """The personas' passwords hashed cheaply: PBKDF2 costs seconds per test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


SCOPED_APPS = ["machines", "telemetry", "notifications", "sales", "operations"]
#: Ingestion's bookkeeping, not the staff's: a vend key says no more than its vend.
NOT_IN_ADMIN = {VendKey}


def admin_models(app_label: str) -> list:
    """The models of the app that the back office must show."""
    models = apps.get_app_config(app_label).get_models()
    return [model for model in models if model not in NOT_IN_ADMIN]


def sales_objects(machine, bunker) -> dict:
    """One object of each sales model for `machine` (its organization's product and
    planogram, a coffee recipe on `bunker`'s ingredient, a vend and its daily rollup)."""
    from datetime import UTC, date, datetime

    organization = machine.organization
    product = Product.objects.create(organization=organization, name="Latte",
                                     sku=f"LATTE-{organization.slug}")
    planogram = Planogram.objects.create(machine=machine,
                                         effective_from=datetime(2026, 1, 1, tzinfo=UTC))
    selection = Selection.objects.create(planogram=planogram, code="1", product=product,
                                         price=15000)
    return {
        Product: product,
        Planogram: planogram,
        Selection: selection,
        RecipeItem: RecipeItem.objects.create(selection=selection,
                                              ingredient=bunker.ingredient, grams=18),
        Vend: Vend.objects.create(machine=machine, transaction_id="t-1", selection="1",
                                  product=product, price=15000, payment_method="cash",
                                  timestamp=datetime(2026, 3, 1, 9, tzinfo=UTC)),
        DailySales: DailySales.objects.create(organization=organization, machine=machine,
                                              product=product, payment_method="cash",
                                              day=date(2026, 3, 1), vends=1, revenue=15000),
        # Kept from DailySales (sales.rollups): the row above made them.
        DailyMachineSales: DailyMachineSales.objects.get(machine=machine),
        DailyProductSales: DailyProductSales.objects.get(product=product),
        AuditRecord: AuditRecord.objects.create(
            machine=machine, uploaded_at=datetime(2026, 3, 1, 10, tzinfo=UTC),
            audited_at=datetime(2026, 3, 1, 10, tzinfo=UTC), raw_text="DXS*1", raw_sha256="0",
            source="device", period={"flags": ["first_audit"]}),
        CashCollection: CashCollection.objects.create(
            machine=machine, organization=organization, amount=14000, expected=15000,
            collected_at=datetime(2026, 3, 1, 11, tzinfo=UTC)),
    }


def operations_objects(machine, bunker, operator) -> dict:
    """One object of each operations model for `machine`'s organization: its settings, a
    depot, `operator`'s profile and route with a visit of `machine` (a line for `bunker`,
    an action), a pack size, a forecast and a slot's stock."""
    from datetime import UTC, date, datetime

    from operations.models import (
        Depot,
        Forecast,
        OperatorProfile,
        PackSize,
        PlanningSettings,
        Route,
        SlotStock,
        Visit,
        VisitAction,
        VisitLine,
    )

    organization = machine.organization
    at = datetime(2026, 3, 1, 9, tzinfo=UTC)
    depot = Depot.objects.create(organization=organization, name=f"{organization.name} depot",
                                 latitude="41.3", longitude="69.2")
    route = Route.objects.create(organization=organization, operator=operator,
                                 date=date(2026, 3, 1), depot=depot)
    visit = Visit.objects.create(route=route, machine=machine, sequence=1, planned_arrival=at)
    return {
        PlanningSettings: PlanningSettings.objects.create(organization=organization),
        Depot: depot,
        OperatorProfile: OperatorProfile.objects.create(organization=organization,
                                                        user=operator, start_depot=depot),
        PackSize: PackSize.objects.create(organization=organization,
                                          ingredient=bunker.ingredient, quantity=500),
        Route: route,
        Visit: visit,
        VisitLine: VisitLine.objects.create(visit=visit, bunker=bunker,
                                            ingredient=bunker.ingredient,
                                            planned_quantity=500, packs=1),
        VisitAction: VisitAction.objects.create(client_id=uuid.uuid4(), visit=visit,
                                                user=operator, kind="check_in"),
        Forecast: Forecast.objects.create(machine=machine, bunker=bunker, level=500,
                                          rate_per_hour=20.0, runs_out_at=at, computed_at=at),
        SlotStock: SlotStock.objects.create(machine=machine, code="A1", level=5),
    }


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def objects(personas):
    """One object of every model registered in the admin, in organization A."""
    return {
        Organization: personas.acme,
        Membership: personas.operator.memberships.get(),
        Machine: personas.machine,
        Bunker: personas.coffee,
        Ingredient: personas.coffee.ingredient,
        Task: make_task(personas.machine, assignee=personas.operator),
        TelemetryReading: make_reading(personas.machine),
        MachineError: make_machine_error(personas.machine),
        MachineHealth: MachineHealth.objects.create(machine=personas.machine),
        DeviceKey: issue_device_key(machine=personas.machine).device_key,
        Notification: make_notification(personas.manager, personas.acme),
        LanguagePreference: LanguagePreference.objects.create(user=personas.operator,
                                                              language="ru"),
        Group: Group.objects.create(name="Dispatchers"),
        type(personas.operator): personas.operator,
        **sales_objects(personas.machine, personas.coffee),
        **operations_objects(personas.machine, personas.coffee, personas.operator),
    }


@pytest.fixture
def rival_objects(personas):
    """The same in organization B, where the acme staff member must see nothing."""
    rival_machine = personas.rival_machine
    return {
        Organization: personas.rival,
        Membership: personas.stranger.memberships.get(),
        Machine: rival_machine,
        Bunker: rival_machine.bunkers.get(),
        Ingredient: rival_machine.bunkers.get().ingredient,
        Task: make_task(rival_machine, assignee=personas.stranger),
        TelemetryReading: make_reading(rival_machine),
        MachineError: make_machine_error(rival_machine),
        MachineHealth: MachineHealth.objects.create(machine=rival_machine),
        DeviceKey: issue_device_key(machine=rival_machine).device_key,
        Notification: make_notification(personas.stranger, personas.rival),
        LanguagePreference: LanguagePreference.objects.create(user=personas.stranger,
                                                              language="uz"),
        type(personas.stranger): personas.stranger,
        **sales_objects(rival_machine, rival_machine.bunkers.get()),
        **operations_objects(rival_machine, rival_machine.bunkers.get(), personas.stranger),
    }


@pytest.fixture
def superuser_client(client):
    client.force_login(make_user("root", is_superuser=True, is_staff=True))
    return client


@pytest.fixture
def staff_client(client, personas):
    """acme's manager as staff, with every permission of the fleet apps."""
    personas.manager.is_staff = True
    personas.manager.save()
    permissions = Permission.objects.filter(content_type__app_label__in=SCOPED_APPS)
    personas.manager.user_permissions.set(permissions)
    client.force_login(personas.manager)
    return client


def test_every_model_is_registered(objects):
    for app_label in SCOPED_APPS:
        for model in admin_models(app_label):
            assert model in admin.site._registry, model
            assert model in objects, f"add a {model.__name__} to the objects fixture"
    assert not NOT_IN_ADMIN & set(admin.site._registry)


def test_every_admin_has_columns_filters_and_search():
    for app_label in SCOPED_APPS:
        for model in admin_models(app_label):
            model_admin = admin.site._registry[model]
            assert len(model_admin.list_display) >= 3, model
            assert model_admin.list_filter, model
            assert model_admin.search_fields, model


def test_dated_records_have_a_date_hierarchy():
    for model, field in [(Task, "created_at"), (Notification, "created_at"),
                         (TelemetryReading, "timestamp"), (MachineError, "occurred_at")]:
        assert admin.site._registry[model].date_hierarchy == field, model


def test_superuser_gets_every_changelist_and_change_page(superuser_client, objects, personas):
    # Notifications are the viewer's own in the admin, a superuser's included.
    root = superuser_client.get(admin_url(Notification, "changelist")).wsgi_request.user
    objects[Notification] = make_notification(root, personas.acme)
    for model, obj in objects.items():
        changelist = superuser_client.get(admin_url(model, "changelist"))
        assert changelist.status_code == 200, model
        change = superuser_client.get(admin_url(model, "change", obj.pk))
        assert change.status_code == 200, model


def test_superuser_changelists_accept_their_filters_and_search(superuser_client, objects):
    for model in objects:
        model_admin = admin.site._registry[model]
        query = {"q": "a"} if model_admin.search_fields else {}
        assert superuser_client.get(admin_url(model, "changelist"), query).status_code == 200
    assert superuser_client.get(admin_url(Bunker, "changelist"), {"low": "yes"}).status_code == 200
    assert (
        superuser_client.get(admin_url(MachineError, "changelist"), {"state": "open"}).status_code
        == 200
    )


def test_superuser_sees_every_organization(superuser_client, objects, rival_objects):
    response = superuser_client.get(admin_url(Machine, "changelist"))
    assert str(rival_objects[Machine].serial_number) in response.content.decode()


def test_staff_sees_own_organization_objects(staff_client, objects, personas):
    for model in [
        Organization,
        Membership,
        Machine,
        Bunker,
        Ingredient,
        Task,
        TelemetryReading,
        MachineError,
        MachineHealth,
        DeviceKey,
        Notification,
    ]:
        response = staff_client.get(admin_url(model, "change", objects[model].pk))
        assert response.status_code == 200, model


def test_staff_gets_every_changelist_with_only_their_organizations_rows(
    staff_client, objects, rival_objects
):
    for model in objects:
        if model._meta.app_label not in SCOPED_APPS:
            continue
        response = staff_client.get(admin_url(model, "changelist"))
        assert response.status_code == 200, model
        shown = {obj.pk for obj in response.context["cl"].result_list}
        assert objects[model].pk in shown, model
        assert rival_objects[model].pk not in shown, model


def test_staff_does_not_see_other_organizations(staff_client, personas, objects, rival_objects):
    request = type("Request", (), {"user": personas.manager})()
    for model, obj in rival_objects.items():
        model_admin = admin.site._registry[model]
        assert not model_admin.get_queryset(request).filter(pk=obj.pk).exists(), model
        response = staff_client.get(admin_url(model, "change", obj.pk))
        assert response.status_code in (302, 403), model  # "does not exist", never the page


def test_staff_changelist_and_filters_never_name_the_other_organization(
    staff_client, objects, rival_objects
):
    for model in [Machine, Task, Notification, Bunker, Ingredient, Membership]:
        content = staff_client.get(admin_url(model, "changelist")).content.decode()
        assert "Rival" not in content, model
    content = staff_client.get(admin_url(Machine, "changelist")).content.decode()
    assert rival_objects[Machine].serial_number not in content
    assert objects[Machine].serial_number in content


def test_staff_form_choices_are_limited_to_own_organization(staff_client, objects, rival_objects):
    content = staff_client.get(admin_url(Task, "add")).content.decode()
    assert str(objects[Machine].pk) in content
    assert str(rival_objects[Machine].pk) not in content
    assert "rival-manager" not in content


def test_machine_page_shows_bunkers_with_fill_percentage(superuser_client, personas):
    personas.coffee.current_level_grams = 100
    personas.coffee.save()
    content = superuser_client.get(admin_url(Machine, "change", personas.machine.pk)).content
    assert b"10.0%" in content and b"75.0%" in content  # coffee (low) and milk powder


def test_put_machines_into_maintenance_action(staff_client, personas):
    response = staff_client.post(
        admin_url(Machine, "changelist"),
        {"action": "put_into_maintenance", "_selected_action": [str(personas.machine.pk)]},
    )
    assert response.status_code == 302
    personas.machine.refresh_from_db()
    assert personas.machine.status == MachineStatus.MAINTENANCE
    assert personas.machine.updated_by == personas.manager


def test_action_cannot_reach_other_organizations(staff_client, personas):
    staff_client.post(
        admin_url(Machine, "changelist"),
        {"action": "put_into_maintenance", "_selected_action": [str(personas.rival_machine.pk)]},
    )
    personas.rival_machine.refresh_from_db()
    assert personas.rival_machine.status == MachineStatus.ONLINE


def test_mark_notifications_read_action(staff_client, objects):
    notification = objects[Notification]
    staff_client.post(
        admin_url(Notification, "changelist"),
        {"action": "mark_read", "_selected_action": [str(notification.pk)]},
    )
    notification.refresh_from_db()
    assert notification.read is True


def test_close_and_assign_task_actions(staff_client, personas):
    task = make_task(personas.machine)
    url = admin_url(Task, "changelist")
    staff_client.post(
        url, {"action": "assign_to_responsible_operator", "_selected_action": [str(task.pk)]}
    )
    task.refresh_from_db()
    assert task.assignee == personas.operator
    staff_client.post(url, {"action": "mark_done", "_selected_action": [str(task.pk)]})
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE and task.completed_at is not None


def test_saving_a_task_in_the_admin_takes_the_machines_organization(staff_client, personas):
    response = staff_client.post(
        admin_url(Task, "add"),
        {
            "machine": str(personas.machine.pk),
            "kind": "cleaning",
            "title": "Admin task",
            "status": "todo",
            "priority": "medium",
            "notes": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    task = Task.objects.get(title="Admin task")
    assert task.organization == personas.acme
    assert task.created_by == personas.manager


def test_a_task_cannot_be_assigned_in_the_admin_to_someone_who_is_not_an_operator(
    staff_client, personas
):
    response = staff_client.post(
        admin_url(Task, "add"),
        {
            "machine": str(personas.machine.pk),
            "kind": "cleaning",
            "title": "For the viewer",
            "assignee": str(personas.viewer.pk),
            "status": "todo",
            "priority": "medium",
            "notes": "",
        },
    )
    assert response.status_code == 200
    assert "Choose an operator of the machine" in response.content.decode()
    assert not Task.objects.filter(title="For the viewer").exists()
