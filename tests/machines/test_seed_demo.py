"""`manage.py seed_demo`: the demo organizations, users and fleet, idempotent."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import models

from machines.models import Bunker, Ingredient, Machine, Membership, Organization, Role, Task
from notifications.models import Notification
from operations.models import Depot, OperatorProfile, PackSize, Route
from operations.planning import plan_day
from sales.models import DailySales, Planogram, Product, RecipeItem, Selection, Vend
from telemetry.models import MachineError

pytestmark = pytest.mark.django_db

User = get_user_model()
MODELS = [
    Organization,
    User,
    Membership,
    Ingredient,
    Machine,
    Bunker,
    Task,
    MachineError,
    Notification,
    Product,
    Planogram,
    Selection,
    RecipeItem,
    Vend,
    DailySales,
    Depot,
    OperatorProfile,
    PackSize,
]


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def snapshot() -> dict:
    """Every row of the seeded tables, all columns (updated_at included)."""
    return {model.__name__: sorted(map(repr, model.objects.values_list())) for model in MODELS}


def test_seed_creates_the_demo_users_with_their_roles():
    output = seed()
    assert "vendhub-demo" in output
    admin = User.objects.get(username="demo-admin")
    assert admin.is_superuser and admin.check_password("vendhub-demo")
    roles = dict(Membership.objects.values_list("user__username", "role"))
    assert roles == {
        "demo-admin": Role.ADMIN,
        "demo-manager": Role.MANAGER,
        "demo-operator": Role.OPERATOR,
        "other-manager": Role.MANAGER,
    }
    manager = User.objects.get(username="demo-manager")
    assert manager.is_staff and not manager.is_superuser
    assert manager.has_perm("machines.change_machine")
    assert manager.has_perm("notifications.change_notification")
    assert not manager.has_perm("auth.change_user")
    operator = User.objects.get(username="demo-operator")
    assert not operator.is_staff


def test_seed_builds_a_fleet_around_tashkent():
    seed()
    demo = Organization.objects.get(slug="vendhub-demo")
    fleet = Machine.objects.filter(organization=demo, serial_number__startswith="VH-")
    assert fleet.count() == 50
    assert fleet.get(serial_number="VH-0001").responsible_operator.username == "demo-operator"
    for machine in fleet:
        assert abs(float(machine.latitude) - 41.2995) < 0.1
        assert abs(float(machine.longitude) - 69.2401) < 0.1
        assert 3 <= machine.bunkers.count() <= 5
    assert len(set(fleet.values_list("status", flat=True))) >= 3
    assert any(bunker.low_level_alert for bunker in Bunker.objects.filter(machine__in=fleet))
    assert Machine.objects.filter(organization__slug="other-vending").exists()


def test_running_it_twice_changes_nothing():
    seed()
    before = snapshot()
    output = seed()
    assert snapshot() == before
    assert "0 created, 0 updated" in output


def test_the_data_is_deterministic():
    seed()
    names = list(Machine.objects.order_by("serial_number").values_list("name", "latitude"))
    Machine.objects.all().delete()
    seed()
    assert list(Machine.objects.order_by("serial_number").values_list("name", "latitude")) == names


def test_a_second_run_after_the_fleet_lived_adds_no_errors_notifications_or_tasks():
    from machines.models import MachineStatus

    seed()
    # What the simulator and the operators do between runs: machines break, bunkers run
    # low, errors are resolved.
    fleet = Machine.objects.filter(organization__slug="vendhub-demo").order_by("serial_number")
    Machine.objects.filter(pk__in=[m.pk for m in fleet[:10]]).update(status=MachineStatus.ERROR)
    Machine.objects.filter(pk__in=[m.pk for m in fleet[10:20]]).update(
        status=MachineStatus.ONLINE)
    Bunker.objects.filter(machine__in=fleet[:10]).update(current_level_grams=1)
    MachineError.objects.update(resolved_at=fleet[0].created_at)
    counts = {model.__name__: model.objects.count() for model in MODELS}
    output = seed()
    assert {model.__name__: model.objects.count() for model in MODELS} == counts
    assert "Tasks, errors, notifications: 0 created, 0 updated" in output


def test_the_seeded_error_notifications_read_in_the_readers_language():
    seed()
    notification = Notification.objects.filter(title_key="machine_error.title").first()
    assert notification is not None
    assert notification.title_text("ru") == notification.title
    assert notification.params["code"] in notification.title


def test_every_demo_machine_sells_from_a_planogram_priced_in_sums():
    output = seed()
    assert "Products: 40 created" in output  # 20 products in each of the two organizations
    for organization in Organization.objects.all():
        products = Product.objects.filter(organization=organization)
        assert {"Cappuccino", "Americano", "Snickers 50 g"} <= set(
            products.values_list("name", flat=True))
        assert all(len(p.barcode) == 13 for p in products.filter(category="snacks"))
    for machine in Machine.objects.all():
        planogram = Planogram.objects.get(machine=machine)
        selections = list(planogram.selections.all())
        assert selections and all(5_000 <= s.price <= 25_000 for s in selections)
        assert all(s.product.organization_id == machine.organization_id for s in selections)
        if " Snack " in machine.name:
            assert len(selections) == 24
            assert all(s.capacity and s.par_level <= s.capacity and not s.recipe.exists()
                       for s in selections)
        else:
            ingredients = set(machine.bunkers.values_list("ingredient_id", flat=True))
            for selection in selections:
                recipe = set(selection.recipe.values_list("ingredient_id", flat=True))
                assert recipe and recipe <= ingredients and selection.capacity is None
    assert Machine.objects.filter(organization__slug="vendhub-demo",
                                  serial_number__startswith="VS-").count() == 6


def test_the_demo_fleet_has_days_of_sales_in_its_rollups():
    seed()
    demo = Organization.objects.get(slug="vendhub-demo")
    vends = Vend.objects.filter(machine__organization=demo)
    assert vends.count() > 5000
    assert vends.filter(product__isnull=True).count() == 0  # every vend's selection known
    methods = dict(DailySales.objects.filter(organization=demo).values_list("payment_method")
                   .annotate(n=models.Sum("vends")))
    assert set(methods) == {"cash", "card", "mobile"}
    assert methods["cash"] > methods["card"] > methods["mobile"]
    assert sum(methods.values()) == vends.count()
    assert DailySales.objects.filter(organization=demo).values("day").distinct().count() >= 3
    assert Machine.objects.filter(organization=demo, last_sale_at__isnull=False).exists()
    # The history's recipes do not leave estimates below the seeded levels.
    assert not Bunker.objects.filter(expected_level_grams__isnull=False).exists()


def test_the_demo_operator_gets_a_planned_route_from_the_depot():
    from datetime import timedelta

    from django.utils import timezone

    seed()
    demo = Organization.objects.get(slug="vendhub-demo")
    profile = OperatorProfile.objects.get(organization=demo)
    assert profile.user.username == "demo-operator" and profile.start_depot is not None
    assert PackSize.objects.filter(organization=demo, ingredient__isnull=False).count() == 6
    # Another organization's depot and profiles are its own business: none seeded for it.
    assert not Depot.objects.exclude(organization=demo).exists()

    tomorrow = timezone.localdate() + timedelta(days=1)
    [route] = plan_day(organization=demo, date=tomorrow)
    assert route.operator == profile.user and route.depot == profile.start_depot
    assert route.visits.count() > 0
    assert Route.objects.filter(organization=demo, date=tomorrow).count() == 1
