"""Every timestamp the REST API and the socket events return is UTC with `Z`, whatever the
server's TIME_ZONE (Asia/Tashkent answers `+05:00` with DRF's own field)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from machines.models import Machine, TaskStatus
from machines.selectors import machine_statuses_in
from operations.events import ROUTE_UPDATED, route_document
from operations.models import Route, Visit, VisitLine
from operations.selectors import with_route_details
from realtime import broadcast, events
from sales.audits import import_audit
from sales.cash import record_collection
from sales.dex.writer import write_dex
from sales.ingest import ingest_vends
from sales.models import Product
from sales.services import SelectionSpec, create_planogram_version
from sales.vends import VendIn
from tests.conftest import client_for
from tests.factories import make_machine_error, make_notification, make_reading, make_task

pytestmark = pytest.mark.django_db

LOOKS_LIKE_A_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def timestamps(value: Any, path: str = "$") -> Iterator[tuple[str, str]]:
    """(path, text) of every string in `value` that is a date and time."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from timestamps(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from timestamps(item, f"{path}[{index}]")
    elif isinstance(value, str) and LOOKS_LIKE_A_TIMESTAMP.match(value):
        yield path, value


def not_in_utc(value: Any) -> list[tuple[str, str]]:
    return [(path, text) for path, text in timestamps(value) if not text.endswith("Z")]


@pytest.fixture
def fleet(personas, settings):
    settings.TIME_ZONE = "Asia/Tashkent"
    now = timezone.now()
    make_reading(personas.machine, timestamp=now - timedelta(minutes=1), last_sale_at=now)
    make_machine_error(personas.machine, severity="critical")
    task = make_task(personas.machine, assignee=personas.operator, due_at=now,
                     status=TaskStatus.DONE, completed_at=now)
    notification = make_notification(personas.manager, personas.acme, machine=personas.machine)
    Machine.objects.filter(pk=personas.machine.pk).update(last_seen_at=now)
    product = Product.objects.create(organization=personas.acme, name="Latte", sku="LATTE")
    create_planogram_version(machine=personas.machine, effective_from=now - timedelta(days=1),
                             selections=[SelectionSpec("1", product.pk, 15000)])
    from operations.models import Forecast

    Forecast.objects.create(machine=personas.machine, bunker=personas.coffee, level=500,
                            rate_per_hour=50, runs_out_at=now + timedelta(hours=10),
                            earliest_at=now + timedelta(hours=8),
                            latest_at=now + timedelta(hours=12), method="recent", samples=6,
                            computed_at=now)
    import_audit(machine=personas.machine, source="device", now=now,
                 text=write_dex([f"ID1*{personas.machine.serial_number}", "VA1*15000*1",
                                 "PA1*1*15000", "PA2*1*15000"]))
    record_collection(machine=personas.machine, amount=15000, actor=personas.manager,
                      collected_at=now - timedelta(minutes=2))
    # Today's route (route_sample's is on AT's day), read by the routes endpoints.
    route = Route.objects.create(organization=personas.acme, operator=personas.operator,
                                 date=now.date(), starts_at=now, ends_at=now, planned_at=now)
    Visit.objects.create(route=route, machine=personas.machine, sequence=1,
                         planned_arrival=now, planned_departure=now, checked_in_at=now)
    return {
        "id": {"machines": personas.machine.pk, "ingredients": personas.coffee.ingredient_id,
               "notifications": notification.pk, "tasks": task.pk, "products": product.pk,
               "routes": route.pk},
        "task": task, "notification": notification,
    }


def sale_events(machine, monkeypatch, capture) -> dict:
    """The events a real vend publishes (sales.ingest), as they would go out."""
    sent: dict = {}
    monkeypatch.setattr(broadcast, "publish_rollback_unsafe",
                        lambda room, event, payload: sent.setdefault(event, payload))
    with capture(execute=True):
        ingest_vends(machine=machine, vends=[VendIn("t-1", "1", 15000, "card", "",
                                                    timezone.now())])
    return sent


def get_paths() -> list[str]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [path for path, operations in schema["paths"].items() if "get" in operations]


def test_every_get_endpoint_answers_timestamps_in_utc(personas, fleet):
    client = client_for(personas.manager)
    seen = 0
    paths = get_paths()
    assert len(paths) >= 10
    for path in paths:
        if path.endswith("/photo/"):
            continue  # an image (a visit's photo): no JSON, no timestamps
        resource = path.split("/")[3]
        url = path.replace("{id}", str(fleet["id"].get(resource, ""))).replace(
            "{machine_id}", str(personas.machine.pk))
        for query in ("", "?withLocation=true") if resource == "machines" else ("",):
            response = client.get(url + query, HTTP_ACCEPT_LANGUAGE="ru")
            assert response.status_code == 200, (url, response.content)
            body = response.json()
            assert not_in_utc(body) == [], url + query
            seen += len(list(timestamps(body)))
    assert seen >= 20  # the walk did meet timestamps (lastSeenAt, createdAt, dueAt, ...)


def route_sample(personas) -> dict:
    route = Route.objects.create(organization=personas.acme, operator=personas.operator,
                                 date=AT.date(), starts_at=AT, ends_at=AT + timedelta(hours=8),
                                 planned_at=AT)
    visit = Visit.objects.create(route=route, machine=personas.machine, sequence=1,
                                 planned_arrival=AT, planned_departure=AT, checked_in_at=AT,
                                 checked_out_at=AT)
    VisitLine.objects.create(visit=visit, bunker=personas.coffee,
                             ingredient=personas.coffee.ingredient, planned_quantity=500)
    return route_document(with_route_details(Route.objects.filter(pk=route.pk)).get())


def forecast_samples(personas) -> dict:
    """`machine:forecast`, `machine:runout` and its batch, of a stored forecast."""
    from operations.events import (
        MACHINE_FORECAST,
        MACHINE_RUNOUT,
        MACHINES_RUNOUT,
        machine_forecast_event,
    )
    from operations.selectors_forecasts import machine_forecast_rows

    rows = machine_forecast_rows(personas.machine)
    document = machine_forecast_event(personas.machine.pk, rows, computed_at=AT, slot_names={})
    runout = {"machineId": str(personas.machine.pk), "runsOutAt": document["runsOutAt"]}
    return {MACHINE_FORECAST: document, MACHINE_RUNOUT: runout, MACHINES_RUNOUT: [runout]}


def command_sample(personas) -> dict:
    """`machine:command` of an answered command."""
    from devices.events import command_document
    from devices.models import MachineCommand

    command = MachineCommand.objects.create(
        organization=personas.acme, machine=personas.machine, kind="reboot",
        created_by=personas.manager, state="acknowledged", expires_at=AT, delivered_at=AT,
        answered_at=AT, result={"ok": True})
    return command_document(command)


def test_every_event_schema_carries_timestamps_in_utc(personas, fleet, settings, monkeypatch,
                                                      django_capture_on_commit_callbacks):
    machine = Machine.objects.get(pk=personas.machine.pk)
    sales = sale_events(machine, monkeypatch, django_capture_on_commit_callbacks)
    built = {
        events.MACHINE_SALE: sales[events.MACHINE_SALE],
        events.SALES_TODAY: sales[events.SALES_TODAY],
        events.MACHINE_REVENUE: sales[events.MACHINE_REVENUE],
        events.MACHINES_REVENUE: [sales[events.MACHINE_REVENUE]],
        events.MACHINE_STATUS: events.machine_status_event(machine, at=AT),
        events.MACHINE_TELEMETRY: events.machine_telemetry_event(machine),
        events.INVENTORY_LOW: events.inventory_low_event(personas.coffee, level=10, at=AT),
        events.NOTIFICATION: events.notification_event(fleet["notification"]),
        events.NOTIFICATIONS_READ: {"ids": [], "read": True},
        events.TASK_UPDATED: events.task_event(fleet["task"]),
        events.MACHINES_SNAPSHOT: machine_statuses_in([personas.acme.pk]),
        events.MACHINES_STATUS: [events.machine_status_event(machine, at=AT)],
        ROUTE_UPDATED: route_sample(personas),
        **forecast_samples(personas),
        "machine:command": command_sample(personas),
    }
    # A new event schema needs its sample here.
    assert set(events.EVENT_SCHEMAS) <= set(built)
    for name, payload in built.items():
        assert not_in_utc(payload) == [], name
    assert len(list(timestamps(list(built.values())))) >= 8



def test_the_dashboard_says_which_time_zone_its_times_are_in(personas, settings):
    from django.test import Client

    settings.TIME_ZONE = "Asia/Tashkent"
    browser = Client()
    browser.force_login(personas.manager)
    page = browser.get("/tasks/").content.decode()
    assert 'data-time-zone="Asia/Tashkent"' in page
    assert "Times in Asia/Tashkent" in page
