"""`python manage.py seed_demo`: a demo fleet around Tashkent, safe to run again.

Creates the "VendHub Demo" organization (users demo-admin, demo-manager, demo-operator),
ingredients, ~50 coffee machines with 3-5 bunkers each (some low) and a few snack machines,
refill tasks for the low bunkers and a few open errors; plus "Other Vending" (user
other-manager) so organization isolation can be seen. Each organization gets a product
catalogue priced in sums, every machine a planogram and a few days of sales
(`sales.demo`). The data comes from a seeded random generator, and every object is
looked up by a natural key and written only when it differs, so a second run changes
nothing. Live state (machine status, bunker levels, task progress) is set on creation only,
and so are a new machine's tasks, errors and notifications: a re-run neither undoes what the
simulator or the operators did since nor adds alerts for it.
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from machines.models import (
    Bunker,
    Ingredient,
    Machine,
    MachineStatus,
    Membership,
    Organization,
    Priority,
    Role,
    Task,
    TaskKind,
)
from machines.seeding import Tally, ensure
from notifications.messages import default_text
from notifications.models import Notification, NotificationType
from operations.demo import seed_operations
from sales.demo import seed_sales
from telemetry.alerts import refill_texts
from telemetry.models import MachineError, Severity

User = get_user_model()

DEMO_PASSWORD = "vendhub-demo"  # published demo credentials, printed by the command
SEED = 20240601
CENTER = (Decimal("41.2995"), Decimal("69.2401"))  # Tashkent
SPREAD_DEGREES = 0.09
MANAGERS_GROUP = "Fleet managers"

DISTRICTS = [
    "Chilonzor",
    "Yunusobod",
    "Mirzo Ulugbek",
    "Yakkasaroy",
    "Shayxontohur",
    "Olmazor",
    "Mirobod",
    "Sergeli",
    "Uchtepa",
    "Yashnobod",
    "Bektemir",
    "Yangihayot",
]
STREETS = ["Amir Temur", "Navoiy", "Bunyodkor", "Shota Rustaveli", "Mustaqillik", "Labzak"]
MACHINE_KINDS = ["Coffee", "Espresso", "Cafe"]
MACHINE_MODELS = ["Saeco Atlante 700", "Necta Kikko Max", "Rheavendors Luce Zero"]
#: Spiral machines of the demo organization (no bunkers: they sell from slots).
SNACK_MACHINES = 6
SNACK_MODELS = ["Necta Snakky", "Bianchi BVM 972", "Jofemar Vision"]
DEMO_INGREDIENTS = [
    ("Coffee beans", 2000),
    ("Milk powder", 1500),
    ("Sugar", 2500),
    ("Cocoa", 1200),
    ("Black tea", 800),
    ("Vanilla topping", 600),
]
OTHER_INGREDIENTS = [("Coffee beans", 2000), ("Sugar", 2500), ("Milk powder", 1500)]
#: Status mix of a healthy fleet.
STATUS_WEIGHTS = [
    (MachineStatus.ONLINE, 70),
    (MachineStatus.OFFLINE, 12),
    (MachineStatus.MAINTENANCE, 8),
    (MachineStatus.ERROR, 10),
]
ERRORS = [
    ("E-BREW", "Brewer unit jammed", Severity.ERROR),
    ("E-WATER", "No water pressure", Severity.CRITICAL),
    ("W-COIN", "Coin box almost full", Severity.WARNING),
]

# What the managers group may do in the admin (their organizations only, see machines.admin).
MANAGER_PERMISSIONS = {
    "machines": {
        "organization": ["view", "change"],
        "membership": ["view"],
        "machine": ["view", "add", "change"],
        "bunker": ["view", "add", "change", "delete"],
        "ingredient": ["view", "add", "change"],
        "task": ["view", "add", "change"],
    },
    "telemetry": {"telemetryreading": ["view"], "machineerror": ["view", "change"]},
    "sales": {"product": ["view", "add", "change"], "planogram": ["view", "add"],
              "selection": ["view", "add"], "recipeitem": ["view", "add"],
              "vend": ["view"], "dailysales": ["view"], "auditrecord": ["view"]},
    "notifications": {"notification": ["view", "change"]},
}


class Command(BaseCommand):
    help = "Create (or bring up to date) the demo organizations, users and ~50 machines."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--machines", type=int, default=50, help="Demo fleet size.")

    def handle(self, *args, machines: int, **options) -> None:
        self.rng = random.Random(SEED)
        self.now = timezone.now()
        self.users_tally, self.ingredients_tally = Tally(), Tally()
        self.machines_tally, self.bunkers_tally, self.work_tally = Tally(), Tally(), Tally()
        with transaction.atomic():
            demo = self.organization("VendHub Demo", "vendhub-demo")
            other = self.organization("Other Vending", "other-vending")
            group = self.managers_group()
            admin = self.user("demo-admin", "Demo", "Admin", demo, Role.ADMIN, superuser=True)
            manager = self.user("demo-manager", "Dilnoza", "Karimova", demo, Role.MANAGER)
            operator = self.user("demo-operator", "Timur", "Rashidov", demo, Role.OPERATOR)
            other_manager = self.user("other-manager", "Olim", "Nazarov", other, Role.MANAGER)
            for staff in (manager, other_manager):
                staff.groups.add(group)
            self.say(f"Users: {self.users_tally}")

            demo_ingredients = self.ingredients(demo, DEMO_INGREDIENTS)
            other_ingredients = self.ingredients(other, OTHER_INGREDIENTS)
            self.say(f"Ingredients: {self.ingredients_tally}")

            demo_fleet = self.fleet(
                demo, prefix="VH", count=machines, ingredients=demo_ingredients, operator=operator
            )
            self.fleet(other, prefix="OV", count=3, ingredients=other_ingredients, operator=None)
            self.snack_fleet(demo, count=SNACK_MACHINES, operator=operator)
            self.say(f"Machines: {self.machines_tally}")
            self.say(f"Bunkers: {self.bunkers_tally}")

            self.work(demo_fleet, operator=operator, manager=manager)
            self.say(f"Tasks, errors, notifications: {self.work_tally}")

            products = Tally()
            for organization in (demo, other):
                seed_sales(organization, list(
                    Machine.objects.filter(organization=organization)
                    .select_related("organization").order_by("serial_number")),
                    tally=products, now=self.now, say=self.say,
                    is_snack=lambda machine: " Snack " in machine.name)
            self.say(f"Products: {products}")

            field = Tally()
            seed_operations(demo, operators=[operator], tally=field)
            self.say(f"Depot, operator profiles, pack sizes: {field}")

        self.stdout.write(self.style.SUCCESS("Demo data ready. Sign in with password:"))
        self.stdout.write(f"  password: {DEMO_PASSWORD}")
        for user, what in [
            (admin, "superuser, admin of VendHub Demo"),
            (manager, "staff, manager of VendHub Demo"),
            (operator, "operator of VendHub Demo (API only)"),
            (other_manager, "staff, manager of Other Vending"),
        ]:
            self.stdout.write(f"  {user.username:<14} {what}")

    # Steps -----------------------------------------------------------------------------------

    def say(self, message: str) -> None:
        self.stdout.write(f"  {message}")

    def organization(self, name: str, slug: str) -> Organization:
        organization = ensure(Organization, lookup={"slug": slug}, values={"name": name})
        self.say(f"Organization {name}")
        return organization

    def managers_group(self) -> Group:
        group, _ = Group.objects.get_or_create(name=MANAGERS_GROUP)
        wanted = permissions_named(MANAGER_PERMISSIONS)
        if set(group.permissions.values_list("pk", flat=True)) != {p.pk for p in wanted}:
            group.permissions.set(wanted)
        return group

    def user(
        self,
        username: str,
        first_name: str,
        last_name: str,
        organization: Organization,
        role: str,
        *,
        superuser: bool = False,
    ):
        staff = superuser or role in (Role.ADMIN, Role.MANAGER)
        user = ensure(
            User,
            lookup={"username": username},
            values={
                "first_name": first_name,
                "last_name": last_name,
                "email": f"{username}@demo.vendhub.uz",
                "is_active": True,
                "is_staff": staff,
                "is_superuser": superuser,
            },
            tally=self.users_tally,
        )
        if not user.check_password(DEMO_PASSWORD):
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        ensure(
            Membership,
            lookup={"user": user, "organization": organization},
            values={"role": role},
        )
        return user

    def ingredients(
        self, organization: Organization, names: list[tuple[str, int]]
    ) -> list[tuple[Ingredient, int]]:
        return [
            (
                ensure(
                    Ingredient,
                    lookup={"organization": organization, "name": name},
                    values={"unit": "g"},
                    tally=self.ingredients_tally,
                ),
                capacity,
            )
            for name, capacity in names
        ]

    def fleet(
        self,
        organization: Organization,
        *,
        prefix: str,
        count: int,
        ingredients: list[tuple[Ingredient, int]],
        operator,
    ) -> list[Machine]:
        """Brings every machine up to date; returns the machines created by this run."""
        rng = self.rng
        fleet = []
        for number in range(1, count + 1):
            district = DISTRICTS[(number - 1) % len(DISTRICTS)]
            kind = "Snack" if prefix != "VH" else rng.choice(MACHINE_KINDS)
            latitude = CENTER[0] + Decimal(rng.uniform(-SPREAD_DEGREES, SPREAD_DEGREES))
            longitude = CENTER[1] + Decimal(rng.uniform(-SPREAD_DEGREES, SPREAD_DEGREES))
            status = rng.choices(
                [s for s, _ in STATUS_WEIGHTS], weights=[w for _, w in STATUS_WEIGHTS]
            )[0]
            silent_minutes = (
                rng.randint(0, 3) if status == MachineStatus.ONLINE else rng.randint(30, 600)
            )
            serial_number = f"{prefix}-{number:04d}"
            new = not Machine.objects.filter(serial_number=serial_number).exists()
            machine = ensure(
                Machine,
                lookup={"serial_number": serial_number},
                values=machine_values(rng, organization, f"{district} {kind} {number:02d}",
                                      district, MACHINE_MODELS, latitude, longitude, operator),
                create_only={
                    "status": status,
                    "last_seen_at": self.now - timedelta(minutes=silent_minutes),
                },
                tally=self.machines_tally,
            )
            if new:
                fleet.append(machine)
            picked = rng.sample(ingredients, rng.randint(3, min(5, len(ingredients))))
            for ingredient, capacity in picked:
                low = rng.random() < 0.15
                share = rng.uniform(0.03, 0.15) if low else rng.uniform(0.3, 1.0)
                ensure(
                    Bunker,
                    lookup={"machine": machine, "ingredient": ingredient},
                    values={"capacity_grams": capacity, "low_level_threshold_percent": 20},
                    create_only={"current_level_grams": int(capacity * share)},
                    tally=self.bunkers_tally,
                )
        return fleet

    def snack_fleet(self, organization: Organization, *, count: int, operator) -> None:
        """Spiral snack machines `VS-0001`…, from a generator of their own: the coffee
        fleet's random sequence, and so its data, stays what it was before them."""
        rng = random.Random(SEED + 1)
        for number in range(1, count + 1):
            district = DISTRICTS[(number * 5) % len(DISTRICTS)]
            latitude = CENTER[0] + Decimal(rng.uniform(-SPREAD_DEGREES, SPREAD_DEGREES))
            longitude = CENTER[1] + Decimal(rng.uniform(-SPREAD_DEGREES, SPREAD_DEGREES))
            ensure(
                Machine,
                lookup={"serial_number": f"VS-{number:04d}"},
                values=machine_values(rng, organization, f"{district} Snack {number:02d}",
                                      district, SNACK_MODELS, latitude, longitude, operator),
                create_only={"status": MachineStatus.ONLINE,
                             "last_seen_at": self.now - timedelta(minutes=rng.randint(0, 3))},
                tally=self.machines_tally,
            )

    def work(self, fleet: list[Machine], *, operator, manager) -> None:
        """Refill tasks for low bunkers; an open error and a notification per faulty machine.

        For machines created by this run only: what happened to a machine since (its
        status, levels and errors as the simulator and the operators left them) is its own
        history, and a second run must not add errors and notifications for it."""
        bunkers = Bunker.objects.filter(machine__in=fleet).select_related("machine", "ingredient")
        for bunker in bunkers:
            if not bunker.low_level_alert:
                continue
            ensure(
                Task,
                lookup={"bunker": bunker, "kind": TaskKind.REFILL},
                create_only={
                    "organization_id": bunker.machine.organization_id,
                    "machine": bunker.machine,
                    "assignee": operator,
                    "priority": Priority.HIGH,
                    # Keyed as the tasks a low reading opens: each reader's language.
                    **refill_texts(machine=bunker.machine, bunker=bunker,
                                   level=bunker.current_level_grams),
                    "due_at": self.now + timedelta(hours=4),
                },
                tally=self.work_tally,
            )
        for index, machine in enumerate(m for m in fleet if m.status == MachineStatus.ERROR):
            code, message, severity = ERRORS[index % len(ERRORS)]
            ensure(
                MachineError,
                lookup={"machine": machine, "code": code},
                values={"message": message, "severity": severity},
                create_only={"occurred_at": self.now - timedelta(minutes=5 * (index + 1))},
                tally=self.work_tally,
            )
            # The device's message stays as sent; the title is the server's, keyed.
            ensure(
                Notification,
                lookup={"recipient": manager, "machine": machine,
                        "title_key": "machine_error.title"},
                values={"organization_id": machine.organization_id, "message": message,
                        "params": {"machine": machine.name, "code": code},
                        "title": default_text("machine_error.title",
                                              {"machine": machine.name, "code": code})},
                create_only={"type": NotificationType.ERROR, "priority": Priority.HIGH},
                tally=self.work_tally,
            )


def machine_values(rng: random.Random, organization: Organization, name: str, district: str,
                   models: list[str], latitude: Decimal, longitude: Decimal,
                   operator) -> dict:
    """A demo machine's fields: the model and street drawn from `rng` in this order."""
    return {
        "organization_id": organization.pk,
        "name": name,
        "model": rng.choice(models),
        "address": f"{district}, {rng.choice(STREETS)} street {rng.randint(1, 120)}",
        "latitude": latitude.quantize(Decimal("0.000001")),
        "longitude": longitude.quantize(Decimal("0.000001")),
        "responsible_operator_id": getattr(operator, "pk", None),
    }


def permissions_named(spec: dict[str, dict[str, list[str]]]) -> list[Permission]:
    """The Permission rows named by {app_label: {model: [action, ...]}}."""
    wanted = []
    for app_label, models_spec in spec.items():
        for model, actions in models_spec.items():
            for action in actions:
                wanted.append(
                    Permission.objects.get(
                        content_type__app_label=app_label, codename=f"{action}_{model}"
                    )
                )
    return wanted
