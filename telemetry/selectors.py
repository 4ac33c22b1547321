"""Reads of telemetry: a machine's latest state in the `MachineTelemetry` wire shape.

`machine_telemetry` is shared by `GET /api/v1/machines/{id}/telemetry` and the realtime
`machine:telemetry` broadcast, so both always send the same document.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TypedDict

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from machines.models import Bunker, Machine
from telemetry.models import MachineError, TelemetryReading


class BunkerLevelPayload(TypedDict):
    bunkerId: str
    ingredientId: str
    ingredientName: str
    currentLevel: int  # grams
    maxLevel: int  # grams
    percentage: float
    lowLevelAlert: bool


class MachineErrorPayload(TypedDict):
    code: str
    message: str
    severity: str  # "warning" | "error" | "critical"
    occurredAt: str  # ISO 8601


class MachineTelemetryPayload(TypedDict):
    machineId: str
    timestamp: str | None  # ISO 8601; None only for a machine never heard from
    status: str  # "online" | "offline" | "maintenance" | "error"
    temperature: float | None
    humidity: float | None
    bunkers: list[BunkerLevelPayload]
    errors: list[MachineErrorPayload]
    lastSale: str | None  # ISO 8601
    uptime: int  # seconds


#: Attribute names the prefetches below fill in; `machine_telemetry` uses them when present.
LATEST_READINGS_ATTR = "latest_readings"
OPEN_ERRORS_ATTR = "open_errors"
BUNKERS_ATTR = "telemetry_bunkers"


def iso8601(value: datetime | None) -> str | None:
    """`value` in UTC as ISO 8601 with a `Z` suffix, the format of JavaScript's toISOString."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def with_telemetry_prefetches(machines: QuerySet[Machine]) -> list[Machine]:
    """`machines`, evaluated, with everything `machine_telemetry` reads: four queries in all,
    whatever the number of machines and the length of their history.

    The latest reading is found by an index lookup per machine (a correlated subquery on
    the (machine, timestamp) unique index) and then fetched by those (machine, time) pairs:
    a sliced prefetch (`[:1]`) would number every reading of every machine with a window
    function, a scan that grows with the history (a machine with a year of readings
    reads all of them to show one).
    """
    latest_at = (
        TelemetryReading.objects.filter(machine=OuterRef("pk"))
        .order_by("-timestamp").values("timestamp")[:1]
    )
    found = list(
        machines.annotate(latest_reading_at=Subquery(latest_at)).prefetch_related(
            Prefetch(
                "errors",
                queryset=MachineError.objects.filter(resolved_at__isnull=True)
                .order_by("-occurred_at"),
                to_attr=OPEN_ERRORS_ATTR,
            ),
            Prefetch(
                "bunkers",
                queryset=Bunker.objects.select_related("ingredient").order_by("ingredient__name"),
                to_attr=BUNKERS_ATTR,
            ),
        )
    )
    wanted = {(m.pk, m.latest_reading_at) for m in found if m.latest_reading_at is not None}
    latest: dict = {}
    if wanted:
        # Pairs, not a row-value IN: both sets are small, and a reading of one machine at
        # another machine's latest time is dropped below.
        for reading in TelemetryReading.objects.filter(
            machine_id__in={pk for pk, _ in wanted}, timestamp__in={at for _, at in wanted}
        ):
            if (reading.machine_id, reading.timestamp) in wanted:
                latest[reading.machine_id] = reading
    for machine in found:
        reading = latest.get(machine.pk)
        setattr(machine, LATEST_READINGS_ATTR, [reading] if reading is not None else [])
    return found


def machines_telemetry(
    machine_ids: Iterable[str],
) -> dict[str, tuple[str, MachineTelemetryPayload]]:
    """`{machine id: (organization id, machine_telemetry)}` of the machines among
    `machine_ids` (unknown ids are missing). Four queries for any number of machines: the
    realtime gateway reads the snapshots of machines subscribed to together in one call; the
    caller checks the organization against the viewer's."""
    machines = with_telemetry_prefetches(Machine.objects.filter(pk__in=list(machine_ids)))
    return {str(m.pk): (str(m.organization_id), machine_telemetry(m)) for m in machines}


def latest_reading(machine: Machine) -> TelemetryReading | None:
    if hasattr(machine, LATEST_READINGS_ATTR):
        readings = getattr(machine, LATEST_READINGS_ATTR)
        return readings[0] if readings else None
    return TelemetryReading.objects.filter(machine=machine).order_by("-timestamp").first()


def _bunkers(machine: Machine) -> Iterable[Bunker]:
    if hasattr(machine, BUNKERS_ATTR):
        return getattr(machine, BUNKERS_ATTR)
    return (
        Bunker.objects.filter(machine=machine)
        .select_related("ingredient")
        .order_by("ingredient__name")
    )


def _open_errors(machine: Machine) -> Iterable[MachineError]:
    if hasattr(machine, OPEN_ERRORS_ATTR):
        return getattr(machine, OPEN_ERRORS_ATTR)
    return MachineError.objects.filter(machine=machine, resolved_at__isnull=True).order_by(
        "-occurred_at"
    )


def bunker_level(bunker: Bunker) -> BunkerLevelPayload:
    return {
        "bunkerId": str(bunker.pk),
        "ingredientId": str(bunker.ingredient_id),
        "ingredientName": bunker.ingredient.name,
        "currentLevel": bunker.current_level_grams,
        "maxLevel": bunker.capacity_grams,
        "percentage": bunker.percentage,
        "lowLevelAlert": bunker.low_level_alert,
    }


def machine_error(error: MachineError) -> MachineErrorPayload:
    return {
        "code": error.code,
        "message": error.message,
        "severity": error.severity,
        "occurredAt": iso8601(error.occurred_at),
    }


def _last_sale(machine: Machine, reading: TelemetryReading | None) -> datetime | None:
    """The later of the latest reading's `lastSale` and the latest vend (sales ingestion
    keeps `Machine.last_sale_at`)."""
    times = [t for t in (reading.last_sale_at if reading else None, machine.last_sale_at) if t]
    return max(times, default=None)


def machine_telemetry(machine: Machine) -> MachineTelemetryPayload:
    """The machine's current state as a `MachineTelemetry` document (camelCase keys).

    Pure read. Sensor values and uptime come from the latest `TelemetryReading`,
    the last sale from it or the latest vend, whichever is later; bunker levels from the
    `Bunker` rows (ingestion keeps them current);
    errors are the open `MachineError` rows, newest first; the status is `Machine.status`.
    Without any reading: timestamp is `machine.last_seen_at` (may be None), sensors None,
    uptime 0. At most three queries, none if the machine came from `with_telemetry_prefetches`.
    """
    reading = latest_reading(machine)
    return {
        "machineId": str(machine.pk),
        "timestamp": iso8601(reading.timestamp if reading else machine.last_seen_at),
        "status": machine.status,
        "temperature": reading.temperature if reading else None,
        "humidity": reading.humidity if reading else None,
        "bunkers": [bunker_level(bunker) for bunker in _bunkers(machine)],
        "errors": [machine_error(error) for error in _open_errors(machine)],
        "lastSale": iso8601(_last_sale(machine, reading)),
        "uptime": reading.uptime_seconds if reading else 0,
    }
