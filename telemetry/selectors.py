"""Reads of telemetry: a machine's latest state in the `MachineTelemetry` wire shape.

`machine_telemetry` is shared by `GET /api/v1/machines/{id}/telemetry` and the realtime
`machine:telemetry` broadcast, so both always send the same document.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TypedDict

from django.db.models import Prefetch, QuerySet

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


def with_telemetry_prefetches(machines: QuerySet[Machine]) -> QuerySet[Machine]:
    """`machines` with everything `machine_telemetry` reads, in three extra queries in total.

    Use it when building the document for many machines at once.
    """
    return machines.prefetch_related(
        Prefetch(
            "readings",
            queryset=TelemetryReading.objects.order_by("-timestamp")[:1],
            to_attr=LATEST_READINGS_ATTR,
        ),
        Prefetch(
            "errors",
            queryset=MachineError.objects.filter(resolved_at__isnull=True).order_by("-occurred_at"),
            to_attr=OPEN_ERRORS_ATTR,
        ),
        Prefetch(
            "bunkers",
            queryset=Bunker.objects.select_related("ingredient").order_by("ingredient__name"),
            to_attr=BUNKERS_ATTR,
        ),
    )


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


def machine_telemetry_in(*, machine_id, organization_ids) -> MachineTelemetryPayload | None:
    """`machine_telemetry` of a machine of these organizations; None if there is none."""
    machine = (
        with_telemetry_prefetches(
            Machine.objects.filter(pk=machine_id, organization_id__in=list(organization_ids))
        ).first()
    )
    return machine_telemetry(machine) if machine is not None else None


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
