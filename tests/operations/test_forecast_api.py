"""Forecasts over REST: a machine's (`/machines/{id}/forecasts/`), the fleet's soonest
(`/forecasts/`), and `runsOutAt` in the machine list, scoped to the viewer's organizations,
with a 400 naming a bad parameter."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from operations.models import Forecast
from tests.conftest import client_for
from tests.factories import make_bunker, make_machine
from tests.operations.forecasts_data import now as current
from tests.operations.forecasts_data import snack_planogram

pytestmark = pytest.mark.django_db


def forecast(machine, *, bunker=None, slot="", hours: float | None, level=100, now=None):
    now = now or current()
    at = None if hours is None else now + timedelta(hours=hours)
    return Forecast.objects.create(
        machine=machine, bunker=bunker, slot_code=slot, level=level, rate_per_hour=10,
        runs_out_at=at, earliest_at=at and at - timedelta(hours=1),
        latest_at=at and at + timedelta(hours=2), method="recent", samples=12,
        computed_at=now)


@pytest.fixture
def forecasts(personas):
    now = current()
    snack_planogram(personas.machine, effective_from=now - timedelta(days=1))
    return {
        "coffee": forecast(personas.machine, bunker=personas.coffee, hours=5, now=now),
        "milk": forecast(personas.machine, bunker=personas.milk, hours=None, now=now),
        "slot": forecast(personas.machine, slot="A1", hours=2, level=4, now=now),
        "rival": forecast(personas.rival_machine,
                          bunker=personas.rival_machine.bunkers.get(), hours=1, now=now),
    }


# -- one machine --------------------------------------------------------------------------------


def test_a_machine_s_forecasts_name_what_runs_out_when(personas, forecasts):
    response = client_for(personas.viewer).get(
        f"/api/v1/machines/{personas.machine.pk}/forecasts/")
    assert response.status_code == 200
    body = response.json()
    assert body["machineId"] == str(personas.machine.pk)
    assert body["runsOutAt"] == forecasts["slot"].runs_out_at.isoformat().replace("+00:00", "Z")
    by_name = {f["name"]: f for f in body["forecasts"]}
    assert set(by_name) == {"Coffee", "Milk powder", "Snickers"}
    coffee = by_name["Coffee"]
    assert coffee["kind"] == "bunker" and coffee["unit"] == "g" and coffee["level"] == 100
    assert coffee["runsOutAt"].endswith("Z") and coffee["earliestAt"] < coffee["runsOutAt"]
    assert by_name["Milk powder"]["runsOutAt"] is None
    snack = by_name["Snickers"]
    assert snack["kind"] == "slot" and snack["slotCode"] == "A1" and snack["unit"] == "pcs"
    assert {"ratePerHour", "method", "samples", "computedAt", "latestAt"} <= set(coffee)


def test_a_stranger_gets_404_for_another_organization_s_machine(personas, forecasts):
    response = client_for(personas.stranger).get(
        f"/api/v1/machines/{personas.machine.pk}/forecasts/")
    assert response.status_code == 404


def test_a_machine_never_forecast_answers_an_empty_list(personas):
    body = client_for(personas.operator).get(
        f"/api/v1/machines/{personas.machine.pk}/forecasts/").json()
    assert body == {"machineId": str(personas.machine.pk), "computedAt": None,
                    "runsOutAt": None, "forecasts": []}


def test_anonymous_callers_are_refused(api_client, personas):
    assert api_client.get("/api/v1/forecasts/").status_code == 401


# -- the fleet ----------------------------------------------------------------------------------


def test_the_fleet_list_is_soonest_first_and_only_what_runs_out(personas, forecasts):
    body = client_for(personas.manager).get("/api/v1/forecasts/").json()
    assert [f["name"] for f in body["results"]] == ["Snickers", "Coffee"]
    assert body["count"] == 2


def test_runs_out_before_keeps_those_before_the_instant(personas, forecasts):
    before = (forecasts["slot"].runs_out_at + timedelta(hours=1)).isoformat()
    response = client_for(personas.manager).get("/api/v1/forecasts/",
                                                {"runsOutBefore": before, "kind": "slot"})
    assert [f["slotCode"] for f in response.json()["results"]] == ["A1"]
    response = client_for(personas.manager).get("/api/v1/forecasts/", {"kind": "bunker"})
    assert [f["name"] for f in response.json()["results"]] == ["Coffee"]


def test_a_stranger_sees_only_their_own_organization(personas, forecasts):
    body = client_for(personas.stranger).get("/api/v1/forecasts/").json()
    assert [f["machineId"] for f in body["results"]] == [str(personas.rival_machine.pk)]
    # Naming another organization is not a way in: nothing.
    body = client_for(personas.stranger).get("/api/v1/forecasts/",
                                             {"organization": str(personas.acme.pk)}).json()
    assert body["results"] == []


@pytest.mark.parametrize(("params", "field"), [
    ({"runsOutBefore": "tomorrow"}, "runsOutBefore"),
    ({"runsOutBefore": "2026-13-45T99:00"}, "runsOutBefore"),
    ({"organization": "acme"}, "organization"),
    ({"kind": "spiral"}, "kind"),
])
def test_a_bad_parameter_is_a_400_naming_it(personas, params, field):
    response = client_for(personas.manager).get("/api/v1/forecasts/", params)
    assert response.status_code == 400
    assert set(response.json()) == {field}


def test_the_fleet_list_reads_a_page_in_a_fixed_number_of_queries(personas, forecasts):
    client = client_for(personas.manager)
    with CaptureQueriesContext(connection) as few:
        client.get("/api/v1/forecasts/")
    for _ in range(5):
        machine = make_machine(personas.acme)
        snack_planogram(machine, effective_from=current() - timedelta(days=1))
        forecast(machine, bunker=make_bunker(machine, "Tea"), hours=3)
        forecast(machine, slot="A1", hours=4)
    with CaptureQueriesContext(connection) as many:
        assert len(client.get("/api/v1/forecasts/").json()["results"]) == 12
    assert len(many.captured_queries) == len(few.captured_queries)


# -- the machine list ------------------------------------------------------------------------


def test_the_machine_list_carries_the_earliest_run_out_and_sorts_by_it(personas, forecasts):
    later = make_machine(personas.acme, name="Later")
    forecast(later, bunker=make_bunker(later, "Tea"), hours=30)
    make_machine(personas.acme, name="Never")
    client = client_for(personas.operator)
    rows = client.get("/api/v1/machines/", {"ordering": "runs_out_at"}).json()["results"]
    assert [row["name"] for row in rows] == [personas.machine.name, "Later", "Never"]
    assert rows[0]["runsOutAt"] == forecasts["slot"].runs_out_at.isoformat().replace(
        "+00:00", "Z")
    assert rows[2]["runsOutAt"] is None
    # Descending keeps the machines without a run-out last; the camelCase alias works too.
    rows = client.get("/api/v1/machines/", {"ordering": "-runsOutAt"}).json()["results"]
    assert [row["name"] for row in rows] == ["Later", personas.machine.name, "Never"]
    detail = client.get(f"/api/v1/machines/{personas.machine.pk}/").json()
    assert detail["runsOutAt"] == rows[1]["runsOutAt"]


def test_run_outs_in_the_machine_list_cost_no_query_per_machine(personas, forecasts):
    client = client_for(personas.manager)
    with CaptureQueriesContext(connection) as few:
        client.get("/api/v1/machines/", {"ordering": "runs_out_at"})
    for hours in range(6):
        machine = make_machine(personas.acme)
        forecast(machine, bunker=make_bunker(machine, "Tea"), hours=hours + 1)
    with CaptureQueriesContext(connection) as many:
        client.get("/api/v1/machines/", {"ordering": "runs_out_at"})
    assert len(many.captured_queries) == len(few.captured_queries)
