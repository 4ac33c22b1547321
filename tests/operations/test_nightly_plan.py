"""The nightly plan: tomorrow, once per organization, after its local NIGHTLY_PLAN_HOUR."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from operations import planning
from operations.models import Route
from operations.planning import plan_tomorrow_if_due
from telemetry.watchdog import SWEEP_CHECKS, check_silent_machines
from tests.operations.planning_data import make_depot, make_driver, running_out

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_memory(monkeypatch):
    monkeypatch.setattr(planning, "_nightly_done", set())


@pytest.fixture
def fleet(personas):
    make_driver(personas.acme, personas.operator, depot=make_depot(personas.acme))
    return [running_out(personas.acme, f"M{i}", offset=(0.01 * i, 0)) for i in range(3)]


def tashkent(day_offset: int, hour: int) -> datetime:
    """`hour` o'clock in Tashkent (UTC+5), `day_offset` days from today."""
    today = datetime.now(UTC).date() + timedelta(days=day_offset)
    return datetime(today.year, today.month, today.day, hour, tzinfo=UTC) - timedelta(hours=5)


def test_tomorrow_is_planned_after_the_nightly_hour(personas, fleet):
    now = tashkent(0, 3)
    (plan,) = plan_tomorrow_if_due(now=now)
    assert plan.date == now.astimezone(planning.zone_of(personas.acme)).date() + timedelta(1)
    (route,) = Route.objects.filter(organization=personas.acme)
    assert route.date == plan.date and route.visits.count() == 3


def test_nothing_is_planned_before_the_nightly_hour(personas, fleet):
    assert plan_tomorrow_if_due(now=tashkent(0, 1)) == []
    assert not Route.objects.exists()


def test_a_second_sweep_or_process_plans_nothing_again(personas, fleet, monkeypatch):
    now = tashkent(0, 3)
    assert len(plan_tomorrow_if_due(now=now)) == 1
    version = Route.objects.get().version
    assert plan_tomorrow_if_due(now=now + timedelta(minutes=1)) == []
    # Another process (its own memory): the routes already planned are the guard.
    monkeypatch.setattr(planning, "_nightly_done", set())
    assert plan_tomorrow_if_due(now=now + timedelta(minutes=2)) == []
    assert Route.objects.get().version == version


def test_a_day_a_manager_planned_already_is_left_alone(personas, fleet):
    now = tashkent(0, 3)
    tomorrow = now.astimezone(planning.zone_of(personas.acme)).date() + timedelta(1)
    planning.plan_day(organization=personas.acme, date=tomorrow, now=now - timedelta(hours=5))
    assert plan_tomorrow_if_due(now=now) == []


def test_organizations_without_operator_profiles_are_skipped(personas):
    running_out(personas.rival, "Rival M")
    assert plan_tomorrow_if_due(now=tashkent(0, 3)) == []


def test_the_nightly_plan_is_a_watchdog_sweep_check(personas, fleet, settings):
    settings.OPERATIONS = {"NIGHTLY_PLAN_HOUR": 0}
    assert any(getattr(check, "__name__", "") == "_plan_tomorrow_if_due"
               for check in SWEEP_CHECKS)
    check_silent_machines(now=tashkent(0, 3))
    assert Route.objects.filter(organization=personas.acme).count() == 1


def test_the_nightly_plan_can_be_turned_off(personas, fleet, settings):
    settings.OPERATIONS = {"NIGHTLY_PLAN_HOUR": None}
    assert plan_tomorrow_if_due(now=tashkent(0, 3)) == []
