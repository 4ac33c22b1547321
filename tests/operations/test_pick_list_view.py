"""A route's pick list: per machine in stop order and in total, grams per ingredient and
units per product with packs, from the route's VisitLine rows; as JSON, CSV and a printable
page; for managers of the route's organization and the route's own operator only."""

from __future__ import annotations

import csv
import io

import pytest

from operations.models import Visit, VisitStatus
from sales.models import Product
from tests.conftest import client_for
from tests.operations.routes_data import acme_routes, make_product_line

pytestmark = pytest.mark.django_db


@pytest.fixture
def routes(personas):
    data = acme_routes(personas)
    # A snack slot on the second stop: units of a product, in crates of 12.
    cola = Product.objects.create(organization=personas.acme, name="Cola 0.5 l", sku="COLA")
    from operations.models import PackSize

    PackSize.objects.create(organization=personas.acme, product=cola, quantity=12,
                            weight_grams=6500)
    make_product_line(data["first"].visits.get(sequence=2), cola, code="A1", units=24,
                      packs=2)
    return data


def api_url(route) -> str:
    return f"/api/v1/routes/{route.pk}/pick-list/"


def page_url(route) -> str:
    return f"/routes/{route.pk}/pick-list/"


def test_the_pick_list_has_each_stop_in_order_and_the_totals(personas, routes):
    body = client_for(personas.manager).get(api_url(routes["first"])).json()
    assert [stop["sequence"] for stop in body["stops"]] == [1, 2]
    assert body["stops"][0]["machineName"] == personas.machine.name
    first = {line["name"]: line for line in body["stops"][0]["lines"]}
    assert first["Coffee"] == {"kind": "ingredient", "itemId": str(personas.coffee.ingredient_id),
                               "name": "Coffee", "unit": "g", "plannedQuantity": 500,
                               "packs": 1, "packQuantity": 500}
    assert first["Milk powder"]["packQuantity"] is None  # no pack size set for it
    totals = {line["name"]: line for line in body["totals"]}
    # Coffee: 500 g at the first stop + 500 g at the second (its own 1,000 g bunker).
    assert (totals["Coffee"]["plannedQuantity"], totals["Coffee"]["packs"]) == (1000, 2)
    assert (totals["Milk powder"]["plannedQuantity"], totals["Milk powder"]["packs"]) == (
        1000, 2)
    assert totals["Cola 0.5 l"] == {"kind": "product", "itemId": totals["Cola 0.5 l"]["itemId"],
                                    "name": "Cola 0.5 l", "unit": "pcs",
                                    "plannedQuantity": 24, "packs": 2, "packQuantity": 12}
    # Ingredients first, then products.
    assert [line["kind"] for line in body["totals"]] == ["ingredient", "ingredient", "product"]


def test_skipped_stops_and_empty_lines_are_left_out(personas, routes):
    route = routes["first"]
    Visit.objects.filter(route=route, sequence=2).update(status=VisitStatus.SKIPPED)
    route.visits.get(sequence=1).lines.filter(ingredient__name="Milk powder").update(
        planned_quantity=0, packs=0)
    body = client_for(personas.manager).get(api_url(route)).json()
    assert [stop["sequence"] for stop in body["stops"]] == [1]
    assert [line["name"] for line in body["stops"][0]["lines"]] == ["Coffee"]
    assert [(line["name"], line["plannedQuantity"]) for line in body["totals"]] == [
        ("Coffee", 500)]


def test_a_route_without_lines_has_an_empty_pick_list(personas, routes):
    route = routes["second"]
    for visit in route.visits.all():
        visit.lines.all().delete()
    body = client_for(personas.manager).get(api_url(route)).json()
    assert body["totals"] == [] and all(stop["lines"] == [] for stop in body["stops"])
    client = client_for(personas.manager)
    client.force_login(personas.manager)
    assert "Nothing to load." in client.get(page_url(route)).content.decode()


def test_the_csv_lists_every_line_then_the_totals(personas, routes):
    response = client_for(personas.manager).get(api_url(routes["first"]), {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    stops = [row for row in rows if row["stop"] != "total"]
    totals = {row["item"]: row for row in rows if row["stop"] == "total"}
    assert {row["stop"] for row in stops} == {"1", "2"}
    assert (totals["Coffee"]["quantity"], totals["Coffee"]["packs"]) == ("1000", "2")
    assert totals["Cola 0.5 l"]["packQuantity"] == "12"


def test_a_machine_name_is_never_a_spreadsheet_formula(personas, routes):
    personas.machine.name = "=HYPERLINK(\"http://x\")"
    personas.machine.save()
    text = client_for(personas.manager).get(api_url(routes["first"]),
                                            {"format": "csv"}).content.decode()
    machines = {row["machine"] for row in csv.DictReader(io.StringIO(text))}
    assert "'=HYPERLINK(\"http://x\")" in machines


def test_who_may_read_a_pick_list(personas, routes):
    route = routes["first"]
    for user, status in [(personas.manager, 200), (personas.operator, 200),
                         (personas.viewer, 404), (personas.stranger, 404),
                         (routes["second_operator"], 404)]:
        assert client_for(user).get(api_url(route)).status_code == status, user
        client = client_for(user)
        client.force_login(user)
        assert client.get(page_url(route)).status_code == status, user
    # The CSV of a route one may not read is a JSON 404, not an empty file.
    response = client_for(personas.stranger).get(api_url(route), {"format": "csv"})
    assert response.status_code == 404 and "detail" in response.json()


def test_the_printable_page_lists_stops_totals_and_checkboxes(personas, routes, client):
    client.force_login(personas.operator)
    response = client.get(page_url(routes["first"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Load the van" in html
    assert personas.machine.name in html and "Chilonzor Cafe" in html
    assert html.index(personas.machine.name) < html.index("Chilonzor Cafe")
    assert html.count('type="checkbox"') == 3 + 4  # 3 totals, 2 + 2 lines at the stops
    assert "1,000 g" in html  # coffee in total, grouped digits
    assert "× 500 g" in html  # its pack size
    assert "10:00" in html  # the second stop's arrival (05:00 UTC) in the acme's zone
    assert "Yunusobod" not in html  # another operator's stop
    assert "data-print" in html


def test_the_page_of_an_unknown_route_is_a_404_and_needs_a_session(personas, routes, client):
    assert client.get(page_url(routes["first"])).status_code == 302  # to the login form
    client.force_login(personas.manager)
    assert client.get("/routes/00000000-0000-0000-0000-000000000000/pick-list/"
                      ).status_code == 404
