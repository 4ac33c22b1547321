"""The sales report: `sales.reports` over the daily rollups and `GET /api/v1/sales/report/`
(JSON and CSV), scoped to the organizations the viewer manages, with a 400 naming each bad
parameter."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from machines.models import Role
from sales import reports
from sales.ingest import sales_day
from sales.models import DailySales
from tests.conftest import client_for
from tests.factories import make_machine, make_organization
from tests.sales.conftest import make_product, post_vends, vend_body

pytestmark = pytest.mark.django_db

URL = "/api/v1/sales/report/"
MARCH_1 = date(2026, 3, 1)


def rollup(machine, product, day: date, *, vends: int, revenue: int, method: str = "cash"):
    return DailySales.objects.create(organization=machine.organization, machine=machine,
                                     product=product, payment_method=method, day=day,
                                     vends=vends, revenue=revenue)


@pytest.fixture
def sales(personas, products):
    """acme: its machine sold on March 1st and 3rd, a second machine on the 2nd, a third
    machine never; rival's machine sold too (acme must never see it)."""
    second = make_machine(personas.acme, name="Station B")
    idle = make_machine(personas.acme, name="Idle C")
    cappuccino, snickers = products["cappuccino"], products["snickers"]
    rollup(personas.machine, cappuccino, MARCH_1, vends=3, revenue=45000)
    rollup(personas.machine, cappuccino, MARCH_1, vends=1, revenue=15000, method="card")
    rollup(personas.machine, snickers, date(2026, 3, 3), vends=2, revenue=24000,
           method="mobile")
    rollup(second, snickers, date(2026, 3, 2), vends=1, revenue=12000)
    rollup(second, None, date(2026, 3, 2), vends=1, revenue=9000)  # an unknown selection
    rival_product = make_product(personas.rival, "Rival cola")
    rollup(personas.rival_machine, rival_product, MARCH_1, vends=100, revenue=999000)
    return {"second": second, "idle": idle}


def scope(personas, start=MARCH_1, end=date(2026, 3, 3)) -> reports.ReportScope:
    return reports.ReportScope(organization_ids=(personas.acme.pk,), start=start, end=end)


def get(user, **params):
    return client_for(user).get(URL, params)


def march(**params) -> dict:
    return {"from": "2026-03-01", "to": "2026-03-03", **params}


# -- the selector ------------------------------------------------------------------------------

def test_by_day_lists_every_day_of_the_range_with_zeros(personas, sales):
    rows = reports.by_day(scope(personas, end=date(2026, 3, 4)))
    assert [(r["day"].isoformat(), r["revenue"], r["vends"]) for r in rows] == [
        ("2026-03-01", 60000, 4), ("2026-03-02", 21000, 2), ("2026-03-03", 24000, 2),
        ("2026-03-04", 0, 0)]


def test_by_machine_lists_machines_without_a_sale_last(personas, sales):
    rows = reports.by_machine(scope(personas))
    assert [(r["machine_name"], r["revenue"], r["vends"]) for r in rows] == [
        (personas.machine.name, 84000, 6), ("Station B", 21000, 2), ("Idle C", 0, 0)]


def test_by_product_keeps_unknown_selections_as_one_row(personas, sales, products):
    rows = reports.by_product(scope(personas))
    assert [(r["product_name"], r["revenue"], r["vends"]) for r in rows] == [
        ("Cappuccino", 60000, 4), ("Snickers", 36000, 3), (None, 9000, 1)]
    assert rows[0]["sku"] == products["cappuccino"].sku


def test_by_payment_method_lists_every_method(personas, sales):
    rows = reports.by_payment_method(scope(personas, start=MARCH_1, end=MARCH_1))
    assert [(r["payment_method"], r["revenue"]) for r in rows] == [
        ("cash", 45000), ("card", 15000), ("mobile", 0)]


def test_top_and_bottom_machines(personas, sales):
    report = reports.sales_report(scope(personas), "day")
    assert [r["machine_name"] for r in report.top] == [personas.machine.name, "Station B"]
    assert [r["machine_name"] for r in report.bottom] == [
        "Idle C", "Station B", personas.machine.name]
    assert report.totals == {"revenue": 105000, "vends": 8}


def test_every_grouping_adds_up_to_the_same_totals(personas, sales):
    totals = {group: reports.sales_report(scope(personas), group, extremes=False).totals
              for group in reports.GROUP_BY}
    assert set(map(lambda t: (t["revenue"], t["vends"]), totals.values())) == {(105000, 8)}


# -- the endpoint ------------------------------------------------------------------------------

def test_report_answers_camel_case_with_totals_and_extremes(personas, sales):
    response = get(personas.manager, **march(groupBy="machine"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["from"], body["to"], body["groupBy"]) == ("2026-03-01", "2026-03-03", "machine")
    assert body["totals"] == {"revenue": 105000, "vends": 8}
    assert body["count"] == 3
    assert body["results"][0] == {
        "machineId": str(personas.machine.pk), "machineName": personas.machine.name,
        "serialNumber": personas.machine.serial_number,
        "organizationId": str(personas.acme.pk), "revenue": 84000, "vends": 6}
    assert [m["machineName"] for m in body["bottomMachines"]][0] == "Idle C"
    assert len(body["topMachines"]) == 2


def test_each_grouping_names_its_key(personas, sales):
    keys = {"day": "day", "product": "productId", "paymentMethod": "paymentMethod",
            "machine": "machineId"}
    for group, key in keys.items():
        body = get(personas.manager, **march(groupBy=group)).json()
        assert all(key in row and isinstance(row["revenue"], int) for row in body["results"])
    body = get(personas.manager, **march(groupBy="product")).json()
    assert body["results"][-1] == {"productId": None, "productName": None, "sku": None,
                                   "revenue": 9000, "vends": 1}


def test_long_lists_are_paginated(personas, sales):
    body = get(personas.manager, **march(groupBy="machine", page_size=2)).json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    second = get(personas.manager, **march(groupBy="machine", page_size=2, page=2)).json()
    assert [r["machineName"] for r in second["results"]] == ["Idle C"]
    assert second["totals"] == body["totals"]  # the totals are the range's, not the page's


def test_vends_posted_by_a_device_are_in_todays_report(personas, planogram, device):
    post_vends(device, [vend_body(personas.machine, "1"),
                        vend_body(personas.machine, "2", method="card")])
    today = sales_day(datetime.now(UTC), personas.acme.time_zone)
    body = get(personas.manager).json()  # default: the last 30 days, by day
    assert body["to"] == today.isoformat()
    assert body["from"] == (today - timedelta(days=29)).isoformat()
    assert body["count"] == 30
    assert body["results"][-1] == {"day": today.isoformat(), "revenue": 30000, "vends": 2}


def test_the_default_range_ends_today_in_the_organizations_time_zone(personas, settings):
    personas.acme.time_zone = "Pacific/Kiritimati"  # UTC+14: often already tomorrow
    personas.acme.save()
    body = get(personas.manager).json()
    assert body["to"] == sales_day(datetime.now(UTC), "Pacific/Kiritimati").isoformat()


def test_today_is_the_managed_organizations_when_the_user_belongs_to_another_too(personas):
    personas.acme.time_zone = "Pacific/Kiritimati"  # UTC+14
    personas.acme.save()
    personas.rival.time_zone = "Pacific/Pago_Pago"  # UTC-11: a day apart from acme
    personas.rival.save()
    personas.manager.memberships.all().delete()
    personas.manager.memberships.create(organization=personas.rival, role=Role.OPERATOR)
    personas.manager.memberships.create(organization=personas.acme, role=Role.MANAGER)
    body = get(personas.manager).json()
    assert body["to"] == sales_day(datetime.now(UTC), "Pacific/Kiritimati").isoformat()


def test_a_stranger_sees_only_their_own_organization(personas, sales):
    body = get(personas.stranger, **march(groupBy="machine")).json()
    assert body["totals"] == {"revenue": 999000, "vends": 100}
    assert [r["machineId"] for r in body["results"]] == [str(personas.rival_machine.pk)]
    response = get(personas.stranger, **march(organization=str(personas.acme.pk)))
    assert response.status_code == 400
    assert "organization" in response.json()


def test_operators_and_viewers_are_refused(personas, sales, api_client):
    for user in (personas.operator, personas.viewer):
        response = get(user, **march())
        assert response.status_code == 403, user
    assert api_client.get(URL).status_code == 401


def test_a_manager_of_two_organizations_filters_by_organization(personas, sales):
    both = personas.stranger  # rival's manager becomes acme's manager too
    both.memberships.create(organization=personas.acme, role=Role.MANAGER)
    assert get(both, **march()).json()["totals"]["revenue"] == 105000 + 999000
    only = get(both, **march(organization=str(personas.acme.pk))).json()
    assert only["totals"] == {"revenue": 105000, "vends": 8}


def test_an_operator_elsewhere_sees_only_what_they_manage(personas, sales):
    third = make_organization("Third")
    personas.operator.memberships.create(organization=third, role=Role.MANAGER)
    body = get(personas.operator, **march()).json()
    assert body["totals"] == {"revenue": 0, "vends": 0}  # acme's sales are not theirs
    response = get(personas.operator, **march(organization=str(personas.acme.pk)))
    assert response.status_code == 400


@pytest.mark.parametrize(("params", "field"), [
    ({"from": "2026-3-1"}, "from"),
    ({"from": "01.03.2026"}, "from"),
    ({"to": "2026-02-30"}, "to"),
    ({"to": "yesterday"}, "to"),
    ({"groupBy": "week"}, "groupBy"),
    ({"groupBy": "Machine"}, "groupBy"),
    ({"organization": "acme"}, "organization"),
    ({"organization": "00000000-0000-0000-0000-000000000000"}, "organization"),
    ({"from": "2026-03-02", "to": "2026-03-01"}, "to"),
    ({"from": "2025-02-28", "to": "2026-03-01"}, "from"),  # 366 days + 1
    ({"from": "0001-01-01", "to": "9999-12-31"}, "from"),
])
def test_bad_parameters_are_a_400_naming_them(personas, sales, params, field):
    response = get(personas.manager, **params)
    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]


def test_the_default_range_stops_at_the_first_date_there_is(personas, sales):
    body = get(personas.manager, to="0001-01-05").json()
    assert (body["from"], body["count"]) == ("0001-01-01", 5)


def test_a_csv_request_with_a_bad_parameter_gets_a_json_400(personas, sales):
    response = get(personas.manager, format="csv", groupBy="week")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert list(response.json()) == ["groupBy"]


@pytest.mark.parametrize(("start", "end"), [
    ("2026-03-01", "2026-03-01"),  # one day
    ("2025-03-01", "2026-03-01"),  # the longest range: 366 days
    ("9999-12-31", "9999-12-31"),  # the last date there is
    ("0001-01-01", "0001-01-03"),  # the first
])
def test_edge_ranges_are_answered(personas, sales, start, end):
    response = get(personas.manager, **{"from": start, "to": end})
    assert response.status_code == 200, response.content
    days = (date.fromisoformat(end) - date.fromisoformat(start)).days + 1
    assert response.json()["count"] == days


def read_csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8"))))


def test_csv_export_has_every_row_and_a_filename(personas, sales):
    response = get(personas.manager, **march(groupBy="machine", format="csv", page_size=1))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == (
        'attachment; filename="sales-machine-2026-03-01-2026-03-03.csv"')
    rows = read_csv(response)
    assert rows[0] == ["machineId", "machineName", "serialNumber", "organizationId", "revenue",
                       "vends"]
    assert len(rows) == 4  # every machine, whatever page_size says
    assert rows[1][4:] == ["84000", "6"]  # money: whole sums, no decimals


def test_csv_by_accept_header_by_day(personas, sales):
    response = client_for(personas.manager).get(URL, march(), HTTP_ACCEPT="text/csv")
    assert response["Content-Type"].startswith("text/csv")
    assert read_csv(response)[1:] == [["2026-03-01", "60000", "4"], ["2026-03-02", "21000", "2"],
                                      ["2026-03-03", "24000", "2"]]


def test_csv_cells_never_start_a_spreadsheet_formula(personas, sales):
    sales["idle"].name = '=HYPERLINK("http://evil.example","x")'
    sales["idle"].save()
    response = get(personas.manager, **march(groupBy="machine", format="csv"))
    names = [row[1] for row in read_csv(response)[1:]]
    assert "'=HYPERLINK(\"http://evil.example\",\"x\")" in names
