"""Test data builders and the named personas most tests use.

Organization A ("acme") has a manager, an operator and a viewer, and one machine with two
bunkers; organization B ("rival") has a manager (the stranger) and a machine of its own.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from django.contrib.auth import get_user_model

from machines.models import (
    Bunker,
    Ingredient,
    Machine,
    MachineStatus,
    Membership,
    Organization,
    Role,
    Task,
    TaskKind,
)
from notifications.models import Notification

User = get_user_model()
_serial = itertools.count(1)

PASSWORD = "correct-horse-battery"


def make_user(username: str, *, organization: Organization | None = None, role: str = Role.VIEWER,
              **extra) -> User:
    user = User.objects.create_user(username=username, password=PASSWORD, **extra)
    if organization is not None:
        Membership.objects.create(user=user, organization=organization, role=role)
    return user


def make_organization(name: str) -> Organization:
    return Organization.objects.create(name=name, slug=name.lower().replace(" ", "-"))


def make_machine(organization: Organization, **fields) -> Machine:
    number = next(_serial)
    defaults = {
        "serial_number": f"SN-{organization.slug}-{number:04d}",
        "name": f"Machine {number}",
        "latitude": "41.299500",
        "longitude": "69.240100",
        "status": MachineStatus.ONLINE,
    }
    defaults.update(fields)
    return Machine.objects.create(organization=organization, **defaults)


def make_bunker(machine: Machine, ingredient_name: str = "Coffee", *, capacity: int = 1000,
                level: int = 800, threshold: int = 20) -> Bunker:
    ingredient, _ = Ingredient.objects.get_or_create(
        organization=machine.organization, name=ingredient_name
    )
    return Bunker.objects.create(
        machine=machine, ingredient=ingredient, capacity_grams=capacity,
        current_level_grams=level, low_level_threshold_percent=threshold,
    )


def make_task(machine: Machine, *, assignee=None, kind: str = TaskKind.CLEANING, **fields) -> Task:
    return Task.objects.create(
        organization=machine.organization, machine=machine, assignee=assignee, kind=kind,
        title=fields.pop("title", f"{kind} {machine.name}"), **fields,
    )


def make_notification(recipient, organization: Organization, **fields) -> Notification:
    return Notification.objects.create(
        recipient=recipient, organization=organization,
        title=fields.pop("title", "Something happened"), **fields,
    )


@dataclass
class Personas:
    acme: Organization
    manager: User
    operator: User
    viewer: User
    machine: Machine
    coffee: Bunker
    milk: Bunker
    rival: Organization
    stranger: User
    rival_machine: Machine


def make_personas() -> Personas:
    acme = make_organization("Acme")
    manager = make_user("acme-manager", organization=acme, role=Role.MANAGER)
    operator = make_user("acme-operator", organization=acme, role=Role.OPERATOR)
    viewer = make_user("acme-viewer", organization=acme, role=Role.VIEWER)
    machine = make_machine(acme, responsible_operator=operator)
    coffee = make_bunker(machine, "Coffee", capacity=1000, level=800)
    milk = make_bunker(machine, "Milk powder", capacity=2000, level=1500)
    rival = make_organization("Rival")
    stranger = make_user("rival-manager", organization=rival, role=Role.MANAGER)
    rival_machine = make_machine(rival)
    make_bunker(rival_machine, "Tea", capacity=500, level=400)
    return Personas(acme, manager, operator, viewer, machine, coffee, milk, rival, stranger,
                    rival_machine)


def make_reading(machine: Machine, **fields):
    """A TelemetryReading of `machine` (now, online, 21.5 °C / 40 % unless given)."""
    from django.utils import timezone

    from telemetry.models import TelemetryReading

    defaults = {
        "timestamp": timezone.now(),
        "status": MachineStatus.ONLINE,
        "temperature": 21.5,
        "humidity": 40.0,
        "uptime_seconds": 3600,
    }
    defaults.update(fields)
    return TelemetryReading.objects.create(machine=machine, **defaults)


def make_machine_error(machine: Machine, code: str = "E-BREW", **fields):
    """An open MachineError of `machine` unless `resolved_at` is given."""
    from django.utils import timezone

    from telemetry.models import MachineError

    defaults = {"message": "Brewer unit jammed", "severity": "error", "occurred_at": timezone.now()}
    defaults.update(fields)
    return MachineError.objects.create(machine=machine, code=code, **defaults)
