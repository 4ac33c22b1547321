"""Writes of telemetry: ingesting readings and applying what the rules decide.

`ingest_telemetry` handles a batch of one machine in one transaction, with a fixed number
of queries whatever the batch size: lock the machine row (concurrent batches of a machine
queue up), insert the readings with `ON CONFLICT DO NOTHING RETURNING` (a retried reading
is not stored twice and fires nothing), load bunkers, open errors and episode flags, let
`telemetry.rules.evaluate_batch` decide, write the outcome in bulk, and leave the broadcasts
to `transaction.on_commit` (realtime.events).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import orjson
from django.db import connection, transaction
from django.utils import timezone

from machines.models import Bunker, Machine
from realtime import events
from telemetry import alerts
from telemetry.conf import telemetry_settings
from telemetry.models import MachineError, MachineHealth, TelemetryReading
from telemetry.rules import (
    BunkerSpec,
    EnvironmentLimits,
    MachineState,
    OpenError,
    Outcome,
    Reading,
    evaluate_batch,
)
from telemetry.selectors import (
    BUNKERS_ATTR,
    LATEST_READINGS_ATTR,
    OPEN_ERRORS_ATTR,
    machine_telemetry,
)
from telemetry.serializers import parse_telemetry


@dataclass(frozen=True)
class IngestResult:
    machine_id: uuid.UUID
    received: int
    accepted: int  # new readings stored
    duplicates: int  # already stored: retries
    #: The timestamps of the readings this call stored (a caller that merged several
    #: devices' messages into one call tells each message which of its readings were new).
    stored: frozenset[datetime] = field(default=frozenset(), repr=False, compare=False)

    def as_dict(self) -> dict:
        return {"machineId": str(self.machine_id), "received": self.received,
                "accepted": self.accepted, "duplicates": self.duplicates}


def bunker_capacities(*, machine_id) -> dict[str, int]:
    """The machine's bunker ids (str) and capacities: what a reading may report."""
    rows = Bunker.objects.filter(machine_id=machine_id).order_by()
    return {str(pk): capacity for pk, capacity in rows.values_list("pk", "capacity_grams")}


def ingest_telemetry_document(*, machine: Machine, data: Any,
                              now: datetime | None = None) -> IngestResult:
    """A device's telemetry document (one reading or a batch, decoded JSON) as every
    transport takes it (`POST /api/v1/telemetry/`, the MQTT `telemetry` topic): validated by
    `parse_telemetry`, stored by `ingest_telemetry`.

    Raises telemetry.serializers.ForeignMachine or TelemetryRejected; then nothing is stored.
    """
    now = now or timezone.now()
    readings = validate_telemetry_document(machine=machine, data=data, now=now)
    return ingest_telemetry(machine=machine, readings=readings, now=now)


def validate_telemetry_document(*, machine: Machine, data: Any, now: datetime,
                                capacities: dict[str, int] | None = None) -> list[Reading]:
    """The readings of a device's telemetry document, validated as every transport does
    (no write). `capacities` (`bunker_capacities` of the machine) may be passed by a caller
    that validates several documents of one machine.

    Raises telemetry.serializers.ForeignMachine or TelemetryRejected.
    """
    config = telemetry_settings()
    return parse_telemetry(
        data,
        machine_id=machine.pk,
        bunker_capacities=(bunker_capacities(machine_id=machine.pk) if capacities is None
                           else capacities),
        now=now,
        max_batch=config.max_batch,
        max_clock_skew=timedelta(seconds=config.max_clock_skew_seconds),
        oldest=now - timedelta(days=config.retention_days),
    )


#: Work of apps built on telemetry once a batch with new readings committed, called as
#: `hook(machine=, now=)` (operations' forecasts), registered in their AppConfig.ready:
#: telemetry does not import the apps built on it.
AFTER_COMMIT_HOOKS: list[Callable[..., object]] = []


def ingest_telemetry(*, machine: Machine, readings: Sequence[Reading],
                     now: datetime | None = None) -> IngestResult:
    """Store `readings` of `machine` (validated by telemetry.serializers) and apply them.

    Idempotent per (machine, timestamp). Returns once the transaction has committed.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = (
            Machine.objects.select_for_update(of=("self",))
            .select_related("organization", "health")
            .get(pk=machine.pk)
        )
        new = _insert_new_readings(locked, readings, now)
        if new:
            _apply(locked, new, now)
            for hook in AFTER_COMMIT_HOOKS:
                transaction.on_commit(partial(hook, machine=locked, now=now), robust=True)
    return IngestResult(machine.pk, len(readings), len(new), len(readings) - len(new),
                        stored=frozenset(reading.timestamp for reading in new))


_READING_COLUMNS = ("id", "created_at", "updated_at", "machine", "timestamp", "status",
                    "temperature", "humidity", "uptime_seconds", "last_sale_at", "bunker_levels")
#: PostgreSQL array types of _READING_COLUMNS, for the unnest() insert.
_PG_ARRAY_TYPES = ("uuid", "timestamptz", "timestamptz", "uuid", "timestamptz", "text",
                   "float8", "float8", "int8", "timestamptz", "jsonb")


def _row(reading_id: uuid.UUID, machine: Machine, reading: Reading, now: datetime) -> tuple:
    levels = [{"bunkerId": b, "currentLevel": level} for b, level in reading.bunker_levels.items()]
    return (reading_id, now, now, machine.pk, reading.timestamp, reading.status,
            reading.temperature, reading.humidity, reading.uptime, reading.last_sale, levels)


def _insert_new_readings(machine: Machine, readings: Sequence[Reading],
                         now: datetime) -> list[Reading]:
    """INSERT ... ON CONFLICT (machine, timestamp) DO NOTHING RETURNING id: the new ones.

    One statement. On PostgreSQL the rows travel as one array per column (`unnest`), which
    costs eleven parameters instead of eleven per reading; elsewhere (SQLite >= 3.35) as a
    multi-row VALUES.
    """
    if not readings:
        return []
    meta = TelemetryReading._meta
    fields = [meta.get_field(name) for name in _READING_COLUMNS]
    qn = connection.ops.quote_name
    by_id = {uuid.uuid4(): reading for reading in readings}
    rows = [_row(reading_id, machine, reading, now) for reading_id, reading in by_id.items()]
    if connection.vendor == "postgresql":
        columns = [list(column) for column in zip(*rows, strict=True)]
        columns[-1] = [orjson.dumps(levels).decode() for levels in columns[-1]]
        values = "SELECT * FROM unnest(" + ", ".join(
            f"%b::{kind}[]" for kind in _PG_ARRAY_TYPES) + ")"  # %b: binary, no escaping
        params = columns
    else:
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        values = "VALUES " + ", ".join([row] * len(rows))
        params = [field.get_db_prep_save(value, connection)
                  for values_ in rows for field, value in zip(fields, values_, strict=True)]
    sql = (
        f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "
        f"{values} ON CONFLICT ({qn('machine_id')}, {qn('timestamp')}) DO NOTHING "
        f"RETURNING {qn('id')}"
    )
    with _cursor() as cursor:
        cursor.execute(sql, params)
        inserted = [value if isinstance(value, uuid.UUID) else uuid.UUID(value)
                    for (value,) in cursor.fetchall()]
    return [by_id[reading_id] for reading_id in inserted]


def _cursor():
    """A cursor in the current transaction. On PostgreSQL a server-side-binding one:
    Django's default client-side binding quotes every array element with a regex, which
    costs more than the insert itself."""
    if connection.vendor == "postgresql":
        import psycopg

        connection.ensure_connection()
        return psycopg.Cursor(connection.connection)
    return connection.cursor()


def _health(machine: Machine) -> MachineHealth | None:
    try:
        return machine.health
    except MachineHealth.DoesNotExist:
        return None


def _apply(machine: Machine, new: list[Reading], now: datetime) -> None:
    config = telemetry_settings()
    bunkers = list(machine.bunkers.select_related("ingredient").order_by("ingredient__name"))
    by_id = {str(b.pk): b for b in bunkers}
    open_rows = {e.code: e for e in machine.errors.filter(resolved_at__isnull=True)}
    health = _health(machine)
    state = MachineState(
        status=machine.status,
        last_seen_at=machine.last_seen_at,
        bunker_levels={key: b.current_level_grams for key, b in by_id.items()},
        open_errors={code: OpenError(code, e.severity, e.occurred_at)
                     for code, e in open_rows.items()},
        temperature_alert=bool(health and health.temperature_alert_active),
        humidity_alert=bool(health and health.humidity_alert_active),
        status_held=machine.status_held,
    )
    limits = EnvironmentLimits(
        temperature=float(machine.organization.temperature_alert_celsius),
        humidity=float(machine.organization.humidity_alert_percent),
        temperature_hysteresis=config.temperature_hysteresis,
        humidity_hysteresis=config.humidity_hysteresis,
    )
    specs = {key: BunkerSpec(b.capacity_grams, b.low_level_threshold_percent)
             for key, b in by_id.items()}
    outcome = evaluate_batch(state, new, specs, limits)
    if not outcome.applied:
        # Only late readings (older than the machine's latest): history, nothing to judge.
        events.emit_machine_telemetry(machine, machine_telemetry(machine))
        return

    open_now = _write_outcome(machine, outcome, by_id, open_rows, health, now)

    latest = outcome.applied[-1]
    machine.status, machine.last_seen_at = outcome.state.status, outcome.state.last_seen_at
    setattr(machine, LATEST_READINGS_ATTR, [_reading_row(machine, latest)])
    setattr(machine, BUNKERS_ATTR, bunkers)
    setattr(machine, OPEN_ERRORS_ATTR, sorted(open_now, key=lambda e: e.occurred_at, reverse=True))
    if outcome.status_change is not None:
        events.emit_machine_status(machine, at=outcome.status_change.at)
    events.emit_machine_telemetry(machine, machine_telemetry(machine))
    _fire_alerts(machine, outcome, by_id)


def _write_outcome(machine: Machine, outcome: Outcome, by_id: dict[str, Bunker],
                   open_rows: dict[str, MachineError], health: MachineHealth | None,
                   now: datetime) -> list[MachineError]:
    """Bulk-write the outcome; returns the machine's open errors afterwards."""
    state = outcome.state
    Machine.objects.filter(pk=machine.pk).update(
        status=state.status, last_seen_at=state.last_seen_at, updated_at=now
    )

    # A reported level replaces the estimate vends made since the last reading
    # (Bunker.expected_level_grams, sales.ingest): reset it, in the same bulk update.
    reported = {key for reading in outcome.applied for key in reading.bunker_levels}
    changed = []
    for key, bunker in by_id.items():
        level = state.bunker_levels.get(key, bunker.current_level_grams)
        estimated = key in reported and bunker.expected_level_grams is not None
        if level != bunker.current_level_grams or estimated:
            bunker.current_level_grams, bunker.updated_at = level, now
            if key in reported:
                bunker.expected_level_grams = None
            changed.append(bunker)
    if changed:
        Bunker.objects.bulk_update(changed,
                                   ["current_level_grams", "expected_level_grams", "updated_at"])

    resolved = []
    for code, resolved_at in outcome.resolved_errors.items():
        row = open_rows.pop(code)
        row.resolved_at, row.updated_at = resolved_at, now
        resolved.append(row)
    if resolved:  # before the inserts: a code may have closed and reopened in the batch
        MachineError.objects.bulk_update(resolved, ["resolved_at", "updated_at"])
    created = [
        MachineError(machine=machine, code=episode.error.code, message=episode.error.message,
                     severity=episode.error.severity, occurred_at=episode.error.occurred_at,
                     resolved_at=episode.resolved_at)
        for episode in outcome.opened_errors
    ]
    if created:
        MachineError.objects.bulk_create(created)

    flags = (state.temperature_alert, state.humidity_alert)
    if flags != (bool(health and health.temperature_alert_active),
                 bool(health and health.humidity_alert_active)):
        MachineHealth.objects.update_or_create(
            machine=machine,
            defaults={"temperature_alert_active": flags[0], "humidity_alert_active": flags[1]},
        )
    return [*open_rows.values(), *(e for e in created if e.resolved_at is None)]


def _reading_row(machine: Machine, reading: Reading) -> TelemetryReading:
    """An unsaved copy of a stored reading, for building the telemetry document."""
    return TelemetryReading(
        machine=machine, timestamp=reading.timestamp, status=reading.status,
        temperature=reading.temperature, humidity=reading.humidity,
        uptime_seconds=reading.uptime, last_sale_at=reading.last_sale,
    )


def _fire_alerts(machine: Machine, outcome: Outcome, by_id: dict[str, Bunker]) -> None:
    critical = outcome.critical_errors
    if not (outcome.low_bunkers or outcome.environment_alerts or critical):
        return
    managers = alerts.managers_of(machine.organization_id)
    for low in outcome.low_bunkers:
        bunker = by_id[low.bunker_id]
        events.emit_inventory_low(bunker, level=low.level, at=low.at)
        alerts.bunker_went_low(machine=machine, bunker=bunker, level=low.level, managers=managers)
    for alert in outcome.environment_alerts:
        alerts.environment_alert(machine=machine, alert=alert, managers=managers)
    for error in critical:
        alerts.critical_error(machine=machine, error=error, managers=managers)
