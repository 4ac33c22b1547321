"""A route's pick list as a document (REST, CSV, the printable page): what to load into the
van, per machine in stop order and in total.

The quantities are decided when the route is planned (`operations.pick_list`'s rules); this
reads them back from the route's `VisitLine` rows (each already rounded up to whole packs),
so the list printed in the morning and the one on the phone agree with the route document.
Totals add the packs of each machine's lines rather than re-rounding the summed grams: the
warehouse kits every machine's share separately (pre-kitting), so the van carries exactly
the packs the machines' lines name.
"""

from __future__ import annotations

import csv
import io
from typing import TypedDict

from operations.models import PackSize, Route, VisitStatus
from telemetry.selectors import iso8601
from vendhub.people import display_name
from vendhub.spreadsheets import spreadsheet_cell


class PickLine(TypedDict):
    kind: str  # "ingredient" | "product"
    itemId: str | None
    name: str
    unit: str  # "g" | "pcs"
    plannedQuantity: int
    packs: int
    packQuantity: int | None  # grams / units of one pack, None when no pack size is set


class PickStop(TypedDict):
    visitId: str
    sequence: int
    machineId: str
    machineName: str
    address: str
    status: str
    plannedArrival: str | None
    lines: list[PickLine]


class PickList(TypedDict):
    routeId: str
    organizationId: str
    date: str
    operatorId: int
    operatorName: str
    stops: list[PickStop]
    totals: list[PickLine]


def pack_sizes_of(organization_id) -> dict[tuple[str, str], int]:
    """`{("ingredient"|"product", item id): pack quantity}` of the organization: one query."""
    sizes = {}
    for ingredient_id, product_id, quantity in PackSize.objects.filter(
            organization_id=organization_id).values_list("ingredient_id", "product_id",
                                                         "quantity"):
        key = ("ingredient", str(ingredient_id)) if ingredient_id else ("product",
                                                                          str(product_id))
        sizes[key] = quantity
    return sizes


def _line(line, pack_sizes: dict) -> PickLine:
    if line.ingredient_id or line.bunker_id:
        kind, item_id, item = "ingredient", line.ingredient_id, line.ingredient
    else:
        kind, item_id, item = "product", line.product_id, line.product
    item_id = str(item_id) if item_id else None
    return {
        "kind": kind, "itemId": item_id,
        "name": item.name if item else line.slot_code, "unit": line.unit,
        "plannedQuantity": line.planned_quantity, "packs": line.packs,
        "packQuantity": pack_sizes.get((kind, item_id)),
    }


def pick_list(route: Route, *, pack_sizes: dict) -> PickList:
    """The pick list of a route loaded with `operations.selectors.with_route_details`.

    Skipped visits are left out: nothing is loaded for a machine the operator will not
    stop at. Lines planned at zero are left out too (a bunker already at par)."""
    stops: list[PickStop] = []
    totals: dict[tuple[str, str], PickLine] = {}
    for visit in route.visits.all():
        if visit.status == VisitStatus.SKIPPED:
            continue
        lines = [_line(line, pack_sizes) for line in visit.lines.all()
                 if line.planned_quantity > 0]
        machine = visit.machine
        stops.append({
            "visitId": str(visit.pk), "sequence": visit.sequence,
            "machineId": str(machine.pk), "machineName": machine.name,
            "address": machine.address, "status": visit.status,
            "plannedArrival": iso8601(visit.planned_arrival), "lines": lines,
        })
        for line in lines:
            # A line without an item (a slot with no product) is totalled by its name.
            key = (line["kind"], line["itemId"] or f"name:{line['name']}")
            total = totals.get(key)
            if total is None:
                totals[key] = dict(line)
            else:
                total["plannedQuantity"] += line["plannedQuantity"]
                total["packs"] += line["packs"]
    ordered = sorted(totals.values(), key=lambda line: (line["kind"] != "ingredient",
                                                        line["name"].casefold()))
    return {
        "routeId": str(route.pk), "organizationId": str(route.organization_id),
        "date": route.date.isoformat(), "operatorId": route.operator_id,
        "operatorName": display_name(route.operator) or "", "stops": stops,
        "totals": ordered,
    }


CSV_HEADER = ["stop", "machine", "address", "kind", "item", "unit", "quantity", "packs",
              "packQuantity"]


def pick_list_csv(document: PickList) -> str:
    """The pick list as CSV: one row per machine's line in stop order, then the totals
    (stop "total")."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    rows = [[stop["sequence"], stop["machineName"], stop["address"], line]
            for stop in document["stops"] for line in stop["lines"]]
    rows += [["total", "", "", line] for line in document["totals"]]
    for stop, machine, address, line in rows:
        # Names are typed by people: one starting with "=" must not run as a formula.
        writer.writerow([spreadsheet_cell(value) for value in (
            stop, machine, address, line["kind"], line["name"], line["unit"],
            line["plannedQuantity"], line["packs"], line["packQuantity"])])
    return out.getvalue()
