"""Applying new readings to machines whose rows the caller has locked: load their state,
let `telemetry.rules.evaluate_batch` decide, write the outcomes in bulk, announce them.

One machine (`ingest_telemetry`, an HTTP batch) and many (`ingest_telemetry_many`, a batch
of device messages of many machines) go through the same steps, and the number of queries
does not grow with the number of machines: the state of all of them in two queries
(bunkers, open errors; the health flags come with the locked rows), their writes in one
bulk statement per table. Per machine a dozen queries cost ~4.5 ms of a worker's CPU per
MQTT message, most of the ingest bench's time with one reading a message.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from django.db import connection

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

# -- storing the readings ---------------------------------------------------------------------

_READING_COLUMNS = ("id", "created_at", "updated_at", "machine", "timestamp", "status",
                    "temperature", "humidity", "uptime_seconds", "last_sale_at", "bunker_levels")
#: PostgreSQL array types of _READING_COLUMNS, for the unnest() insert.
_PG_ARRAY_TYPES = ("uuid", "timestamptz", "timestamptz", "uuid", "timestamptz", "text",
                   "float8", "float8", "int8", "timestamptz", "jsonb")


def _row(reading_id: uuid.UUID, machine_id, reading: Reading, now: datetime) -> tuple:
    levels = [{"bunkerId": b, "currentLevel": level} for b, level in reading.bunker_levels.items()]
    return (reading_id, now, now, machine_id, reading.timestamp, reading.status,
            reading.temperature, reading.humidity, reading.uptime, reading.last_sale, levels)


def insert_new_readings(readings: Sequence[tuple[object, Reading]],
                        now: datetime) -> dict[object, list[Reading]]:
    """INSERT ... ON CONFLICT (machine, timestamp) DO NOTHING RETURNING: the new readings
    of each machine (`readings` are (machine id, reading) pairs; a machine with none new is
    missing from the answer).

    One statement. On PostgreSQL the rows travel as one array per column (`unnest`), which
    costs eleven parameters instead of eleven per reading; elsewhere (SQLite >= 3.35) as a
    multi-row VALUES.
    """
    if not readings:
        return {}
    meta = TelemetryReading._meta
    fields = [meta.get_field(name) for name in _READING_COLUMNS]
    qn = connection.ops.quote_name
    by_id = {uuid.uuid4(): pair for pair in readings}
    rows = [_row(reading_id, machine_id, reading, now)
            for reading_id, (machine_id, reading) in by_id.items()]
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
    with binding_cursor() as cursor:
        cursor.execute(sql, params)
        inserted = [value if isinstance(value, uuid.UUID) else uuid.UUID(value)
                    for (value,) in cursor.fetchall()]
    new: dict[object, list[Reading]] = defaultdict(list)
    for reading_id in inserted:
        machine_id, reading = by_id[reading_id]
        new[machine_id].append(reading)
    return dict(new)


def binding_cursor():
    """A cursor in the current transaction. On PostgreSQL a server-side-binding one:
    Django's default client-side binding quotes every array element with a regex, which
    costs more than the insert itself."""
    if connection.vendor == "postgresql":
        import psycopg

        connection.ensure_connection()
        return psycopg.Cursor(connection.connection)
    return connection.cursor()


# -- deciding ---------------------------------------------------------------------------------


@dataclass
class Judged:
    """A locked machine, its state as loaded, and what the rules made of its new readings."""

    machine: Machine
    bunkers: list[Bunker]
    open_rows: dict[str, MachineError]
    health: MachineHealth | None
    outcome: Outcome
    created: list[MachineError] = field(default_factory=list)

    @property
    def by_id(self) -> dict[str, Bunker]:
        return {str(bunker.pk): bunker for bunker in self.bunkers}


def _health(machine: Machine) -> MachineHealth | None:
    try:
        return machine.health
    except MachineHealth.DoesNotExist:
        return None


def judge(new: dict[object, list[Reading]], machines: dict[object, Machine]) -> list[Judged]:
    """The rules' outcome for each machine of `new` (locked rows in `machines`, loaded with
    their organization and health): two queries for any number of machines."""
    config = telemetry_settings()
    ids = list(new)
    bunkers: dict[object, list[Bunker]] = defaultdict(list)
    for bunker in (Bunker.objects.filter(machine_id__in=ids).select_related("ingredient")
                   .order_by("machine_id", "ingredient__name")):
        bunker.machine = machines[bunker.machine_id]  # as machine.bunkers would set it
        bunkers[bunker.machine_id].append(bunker)
    open_rows: dict[object, dict[str, MachineError]] = defaultdict(dict)
    for error in MachineError.objects.filter(machine_id__in=ids, resolved_at__isnull=True):
        error.machine = machines[error.machine_id]
        open_rows[error.machine_id][error.code] = error
    judged = []
    for machine_id, readings in new.items():
        machine = machines[machine_id]
        by_id = {str(b.pk): b for b in bunkers[machine_id]}
        rows = open_rows[machine_id]
        health = _health(machine)
        state = MachineState(
            status=machine.status,
            last_seen_at=machine.last_seen_at,
            bunker_levels={key: b.current_level_grams for key, b in by_id.items()},
            open_errors={code: OpenError(code, e.severity, e.occurred_at)
                         for code, e in rows.items()},
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
        outcome = evaluate_batch(state, readings, specs, limits)
        judged.append(Judged(machine, bunkers[machine_id], rows, health, outcome))
    return judged


# -- writing ----------------------------------------------------------------------------------


def write(judged: Sequence[Judged], now: datetime) -> None:
    """Write every outcome that changed something: one bulk statement per table."""
    machines, bunkers, resolved, created = [], [], [], []
    for item in judged:
        outcome = item.outcome
        if not outcome.applied:
            continue  # late readings only: history, nothing changes
        state, machine = outcome.state, item.machine
        machine.status, machine.last_seen_at = state.status, state.last_seen_at
        machine.updated_at = now
        machines.append(machine)
        # A reported level replaces the estimate vends made since the last reading
        # (Bunker.expected_level_grams, sales.ingest): reset it, in the same bulk update.
        reported = {key for reading in outcome.applied for key in reading.bunker_levels}
        for key, bunker in item.by_id.items():
            level = state.bunker_levels.get(key, bunker.current_level_grams)
            estimated = key in reported and bunker.expected_level_grams is not None
            if level != bunker.current_level_grams or estimated:
                bunker.current_level_grams, bunker.updated_at = level, now
                if key in reported:
                    bunker.expected_level_grams = None
                bunkers.append(bunker)
        for code, resolved_at in outcome.resolved_errors.items():
            row = item.open_rows.pop(code)
            row.resolved_at, row.updated_at = resolved_at, now
            resolved.append(row)
        item.created = [
            MachineError(machine=machine, code=episode.error.code,
                         message=episode.error.message, severity=episode.error.severity,
                         occurred_at=episode.error.occurred_at, resolved_at=episode.resolved_at)
            for episode in outcome.opened_errors
        ]
        created.extend(item.created)
        flags = (state.temperature_alert, state.humidity_alert)
        if flags != (bool(item.health and item.health.temperature_alert_active),
                     bool(item.health and item.health.humidity_alert_active)):
            MachineHealth.objects.update_or_create(  # an episode starting or ending: rare
                machine=machine,
                defaults={"temperature_alert_active": flags[0], "humidity_alert_active": flags[1]},
            )
    update_rows(machines, ["status", "last_seen_at", "updated_at"])
    update_rows(bunkers, ["current_level_grams", "expected_level_grams", "updated_at"])
    if resolved:  # before the inserts: a code may have closed and reopened in the batch
        MachineError.objects.bulk_update(resolved, ["resolved_at", "updated_at"])
    if created:
        MachineError.objects.bulk_create(created)


def update_rows(rows: Sequence, fields: list[str]) -> None:
    """Save `fields` of model instances `rows` (all of one model) in one statement.

    On PostgreSQL an `UPDATE ... FROM unnest(arrays)`: Django's `bulk_update` builds a CASE
    WHEN per row and field, which for a batch of 200 machines took more of the worker's time
    than the rest of the batch (54 % in a profile). Elsewhere `bulk_update`."""
    if not rows:
        return
    model = type(rows[0])
    if connection.vendor != "postgresql":
        model.objects.bulk_update(rows, fields)
        return
    meta, qn = model._meta, connection.ops.quote_name
    columns = [meta.pk, *(meta.get_field(name) for name in fields)]
    arrays = [[column.get_db_prep_value(getattr(row, column.attname), connection)
               for row in rows] for column in columns]
    names = [f"v{i}" for i in range(len(columns))]
    sql = (
        f"UPDATE {qn(meta.db_table)} AS t SET "
        + ", ".join(f"{qn(column.column)} = u.{name}"
                    for column, name in zip(columns[1:], names[1:], strict=True))
        + " FROM unnest(" + ", ".join(f"%s::{column.db_type(connection)}[]" for column in columns)
        + f") AS u({', '.join(names)}) WHERE t.{qn(meta.pk.column)} = u.{names[0]}"
    )
    with binding_cursor() as cursor:
        cursor.execute(sql, arrays)


# -- announcing -------------------------------------------------------------------------------


def announce(judged: Sequence[Judged]) -> None:
    """The events and alerts of the written outcomes (broadcasts leave on commit)."""
    for item in judged:
        machine, outcome = item.machine, item.outcome
        # The document's bunkers and open errors as judge() loaded and write() left them.
        open_now = [*item.open_rows.values(), *(e for e in item.created if e.resolved_at is None)]
        setattr(machine, BUNKERS_ATTR, item.bunkers)
        setattr(machine, OPEN_ERRORS_ATTR,
                sorted(open_now, key=lambda e: e.occurred_at, reverse=True))
        if not outcome.applied:
            # Only late readings (older than the machine's latest): history, nothing judged;
            # the document's latest reading is read from the table.
            events.emit_machine_telemetry(machine, machine_telemetry(machine))
            continue
        setattr(machine, LATEST_READINGS_ATTR, [_reading_row(machine, outcome.applied[-1])])
        if outcome.status_change is not None:
            events.emit_machine_status(machine, at=outcome.status_change.at)
        events.emit_machine_telemetry(machine, machine_telemetry(machine))
        _fire_alerts(machine, outcome, item.by_id)


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
