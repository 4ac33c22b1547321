"""Outbound Socket.IO events of field operations, registered beside the others in
`realtime.events.EVENT_SCHEMAS` (so `emit_org_event` accepts them and the schema tests see
them) and published through the one door, `realtime.broadcast.publish`, after commit.

`route:updated` (v1) carries a whole route (`RouteDocument`): a plan, a re-plan, a manager's
move and each visit action change several visits at once (sequence, planned times, status),
and a route has tens of stops, so the whole document is both simpler and small. It goes to
the organization's room (managers' maps and boards) and to the operator's board in that
organization (`tasks_room`), never to another organization's rooms.
"""

from __future__ import annotations

from typing import TypedDict

from operations.selectors_forecasts import ForecastDocument, forecast_document
from realtime.broadcast import publish
from realtime.events import DIRECT_EVENT_SCHEMAS, EVENT_SCHEMAS, emit_org_event
from realtime.fanout import MAP_RUNOUT_BATCH_EVENT, MAP_RUNOUT_EVENT
from realtime.rooms import machine_room, map_room, tasks_room
from telemetry.selectors import iso8601
from vendhub.people import display_name

ROUTE_UPDATED = "route:updated"


class VisitLineDocument(TypedDict):
    id: str
    bunkerId: str | None
    slotCode: str
    ingredientId: str | None
    productId: str | None
    name: str  # the ingredient's or the product's name
    unit: str  # "g" | "pcs"
    plannedQuantity: int
    packs: int
    filledQuantity: int | None


class VisitDocument(TypedDict):
    id: str
    machineId: str
    machineName: str
    address: str
    lat: float | None
    lng: float | None
    sequence: int
    status: str  # operations.models.VisitStatus
    reasons: list[str]
    pinned: bool
    plannedArrival: str | None  # ISO 8601, UTC with Z
    plannedDeparture: str | None
    checkedInAt: str | None
    checkedOutAt: str | None
    lines: list[VisitLineDocument]


class RouteDocument(TypedDict):
    """A route as REST returns it and `route:updated` (v1) carries it."""

    id: str
    organizationId: str
    date: str  # YYYY-MM-DD, in the organization's time zone
    operatorId: int
    operatorName: str
    status: str  # operations.models.RouteStatus
    version: int
    depotId: str | None
    startsAt: str | None
    endsAt: str | None
    distanceM: int
    loadGrams: int
    plannedAt: str | None
    visits: list[VisitDocument]


EVENT_SCHEMAS[ROUTE_UPDATED] = RouteDocument


def _coordinate(value) -> float | None:
    return None if value is None else float(value)


def _line(line) -> VisitLineDocument:
    item = line.ingredient or line.product
    return {
        "id": str(line.pk), "bunkerId": str(line.bunker_id) if line.bunker_id else None,
        "slotCode": line.slot_code,
        "ingredientId": str(line.ingredient_id) if line.ingredient_id else None,
        "productId": str(line.product_id) if line.product_id else None,
        "name": item.name if item else "", "unit": line.unit,
        "plannedQuantity": line.planned_quantity, "packs": line.packs,
        "filledQuantity": line.filled_quantity,
    }


def _visit(visit) -> VisitDocument:
    machine = visit.machine
    return {
        "id": str(visit.pk), "machineId": str(machine.pk), "machineName": machine.name,
        "address": machine.address, "lat": _coordinate(machine.latitude),
        "lng": _coordinate(machine.longitude), "sequence": visit.sequence,
        "status": visit.status, "reasons": list(visit.reasons), "pinned": visit.pinned,
        "plannedArrival": iso8601(visit.planned_arrival),
        "plannedDeparture": iso8601(visit.planned_departure),
        "checkedInAt": iso8601(visit.checked_in_at),
        "checkedOutAt": iso8601(visit.checked_out_at),
        "lines": [_line(line) for line in visit.lines.all()],
    }


def route_document(route) -> RouteDocument:
    """The route with its visits in order and their lines. Load routes with
    `operations.selectors.with_route_details` (or prefetch the same) to read them in a fixed
    number of queries."""
    return {
        "id": str(route.pk), "organizationId": str(route.organization_id),
        "date": route.date.isoformat(), "operatorId": route.operator_id,
        "operatorName": display_name(route.operator) or "", "status": route.status,
        "version": route.version, "depotId": str(route.depot_id) if route.depot_id else None,
        "startsAt": iso8601(route.starts_at), "endsAt": iso8601(route.ends_at),
        "distanceM": route.distance_m, "loadGrams": route.load_grams,
        "plannedAt": iso8601(route.planned_at),
        "visits": [_visit(visit) for visit in route.visits.all()],
    }


def emit_route_updated(route) -> None:
    """To the organization's room and to the operator's board in that organization."""
    payload = route_document(route)
    publish(tasks_room(route.operator_id, route.organization_id), ROUTE_UPDATED, payload)
    emit_org_event(route.organization_id, ROUTE_UPDATED, payload)


# -- forecasts ------------------------------------------------------------------------------

MACHINE_FORECAST = "machine:forecast"
MACHINE_RUNOUT = MAP_RUNOUT_EVENT
MACHINES_RUNOUT = MAP_RUNOUT_BATCH_EVENT


class MachineForecastEvent(TypedDict):
    """`machine:forecast` (v1), to `machine:{id}`: every forecast of the machine after a
    refresh that changed one (a level, a method, or a run-out time by a minute or more),
    as GET /api/v1/machines/{id}/forecasts/ serves them."""

    machineId: str
    computedAt: str | None  # null over REST for a machine never computed
    runsOutAt: str | None  # the earliest of `forecasts`
    forecasts: list[ForecastDocument]


class MachineRunoutEvent(TypedDict):
    """`machine:runout` (v1), to the organization's live map (`machines:all`): a machine's
    earliest run-out moved, so the fleet list re-sorts without joining each machine's room.
    Coalesced per machine and tick like `machine:revenue` (`machines:runout` batches)."""

    machineId: str
    runsOutAt: str | None  # ISO 8601 UTC; null: nothing of it runs out


EVENT_SCHEMAS[MACHINE_FORECAST] = MachineForecastEvent
EVENT_SCHEMAS[MACHINE_RUNOUT] = MachineRunoutEvent
DIRECT_EVENT_SCHEMAS[MACHINES_RUNOUT] = list[MachineRunoutEvent]


def machine_forecast_event(machine_id, rows, *, computed_at,
                           slot_names: dict[str, str]) -> MachineForecastEvent:
    """`rows`: the machine's forecasts, bunkers with their ingredients loaded."""
    documents = [forecast_document(row, name=slot_names.get(row.slot_code, ""))
                 for row in rows]
    times = [row.runs_out_at for row in rows if row.runs_out_at is not None]
    return {"machineId": str(machine_id), "computedAt": iso8601(computed_at),
            "runsOutAt": iso8601(min(times)) if times else None, "forecasts": documents}


def emit_machine_forecast(machine, rows, *, computed_at, slot_names: dict[str, str]) -> None:
    publish(machine_room(machine.pk), MACHINE_FORECAST,
            machine_forecast_event(machine.pk, rows, computed_at=computed_at,
                                   slot_names=slot_names))


def emit_machine_runout(machine, runs_out_at) -> None:
    payload: MachineRunoutEvent = {"machineId": str(machine.pk),
                                   "runsOutAt": iso8601(runs_out_at)}
    publish(map_room(machine.organization_id), MACHINE_RUNOUT, payload)
