"""Writes of telemetry: ingesting readings and applying what the rules decide.

`ingest_telemetry` handles a batch of one machine in one transaction, with a fixed number
of queries whatever the batch size: lock the machine row (concurrent batches of a machine
queue up), insert the readings with `ON CONFLICT DO NOTHING RETURNING` (a retried reading
is not stored twice and fires nothing), load bunkers, open errors and episode flags, let
`telemetry.rules.evaluate_batch` decide, write the outcome in bulk, and leave the broadcasts
to `transaction.on_commit` (realtime.events). `ingest_telemetry_many` does the same for the
readings of many machines at once (the MQTT worker's batches), with the same number of
queries (telemetry.applying).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from machines.models import Bunker, Machine
from telemetry import applying
from telemetry.conf import telemetry_settings
from telemetry.rules import Reading
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


def bunker_capacities_of(machine_ids: Iterable) -> dict[object, dict[str, int]]:
    """`bunker_capacities` of several machines in one query (a machine without bunkers is
    missing)."""
    found: dict[object, dict[str, int]] = {}
    rows = Bunker.objects.filter(machine_id__in=list(machine_ids)).order_by()
    for machine_id, pk, capacity in rows.values_list("machine_id", "pk", "capacity_grams"):
        found.setdefault(machine_id, {})[str(pk)] = capacity
    return found


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


#: Work of apps built on telemetry once readings committed, called as
#: `hook(machines=[...], now=)` with the machines that got new readings, once per
#: transaction however many machines it stored (operations' forecasts and fill checks),
#: registered in their AppConfig.ready: telemetry does not import the apps built on it.
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
        new = _store(now, {locked.pk: locked}, {locked.pk: readings}).get(locked.pk, [])
    return _result(machine.pk, readings, new)


def ingest_telemetry_many(batches: dict[object, tuple[Machine, Sequence[Reading]]], *,
                          now: datetime | None = None, wait: bool = False,
                          ) -> tuple[dict[object, IngestResult], set[object]]:
    """`ingest_telemetry` for many machines in ONE transaction (`batches`: machine id ->
    (machine, its validated readings)): the results of the machines stored, and the ids of
    those left alone because another transaction holds their row.

    Without `wait` the rows are locked with SKIP LOCKED: never waiting, two workers whose
    batches share machines neither deadlock nor queue behind each other; the caller stores
    the machines left alone afterwards. With `wait` every row is waited for, in primary key
    order (so that two callers waiting for each other's rows cannot deadlock), and none is
    left alone.

    A fixed number of queries whatever the number of machines (telemetry.applying); one
    call of each after-commit hook with all of them. Raises what the database raises; then
    nothing of the batch is stored.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = {m.pk: m for m in (
            Machine.objects.select_for_update(of=("self",), skip_locked=not wait)
            .select_related("organization", "health")
            .filter(pk__in=list(batches)).order_by("pk"))}
        new = _store(now, locked, {pk: batches[pk][1] for pk in locked})
    results = {pk: _result(pk, batches[pk][1], new.get(pk, [])) for pk in locked}
    return results, set(batches) - set(locked)


def _store(now: datetime, machines: dict[object, Machine],
           readings: dict[object, Sequence[Reading]]) -> dict[object, list[Reading]]:
    """Insert, judge, write and announce the readings of locked `machines`, in the caller's
    transaction; the new readings of each."""
    new = applying.insert_new_readings(
        [(pk, reading) for pk, items in readings.items() for reading in items], now)
    if new:
        judged = applying.judge(new, machines)
        applying.write(judged, now)
        applying.announce(judged)
        touched = [machines[pk] for pk in new]
        for hook in AFTER_COMMIT_HOOKS:
            transaction.on_commit(partial(hook, machines=touched, now=now), robust=True)
    return new


def _result(machine_id, readings: Sequence[Reading], new: list[Reading]) -> IngestResult:
    return IngestResult(machine_id, len(readings), len(new), len(readings) - len(new),
                        stored=frozenset(reading.timestamp for reading in new))
