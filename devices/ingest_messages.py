"""One device message and one machine's messages of a batch, for the MQTT ingestion worker:
the message as received (`Inbound`), its answer (`Outcome`), the serial → machine lookup, and
`MachineMessages`, which validates a machine's messages and stores them.

Each message is a device's document on its own topic (`vendhub/v1/{serial}/telemetry`,
`…/sales`, `…/audit`) and goes through exactly the services of the HTTP endpoints:
`telemetry.services` (`validate_telemetry_document`, then `ingest_telemetry`: what
`ingest_telemetry_document` does for `POST /api/v1/telemetry/`),
`sales.ingest.ingest_vends_document`, `sales.audits.import_audit`: the same validation,
the same idempotency (reading timestamps, vend transaction ids, audit digests), the same
rules and events.

Telemetry messages are validated one by one (each gets its own 400), then the valid
readings of one machine's messages are stored as ONE batch, as an HTTP batch is: one rules
evaluation over the readings in time order, one `machine:telemetry` event with the state
after them. Each message is still answered for its own readings: the call tells which
timestamps it stored, and a reading whose timestamp an earlier message of the batch already
carried is a duplicate of that message's, as it would have been one after the other. A vend
or audit message of the machine ends the run (its order against the readings matters: a
reading resets the vends' level estimate) and runs in a savepoint of its own.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import DatabaseError, transaction
from rest_framework.exceptions import ParseError

from machines.models import Machine
from sales import audits, ingest
from sales.models import AuditSource
from sales.vends import ForeignMachine as ForeignVend
from sales.vends import VendsRejected
from telemetry import services
from telemetry.rules import Reading
from telemetry.serializers import ForeignMachine as ForeignReading
from telemetry.serializers import TelemetryRejected
from vendhub.parsers import JSONParser, PlainTextParser

logger = logging.getLogger(__name__)

#: Seconds a serial's machine (or its absence) is remembered: a revoked key stops being
#: served within this time even if a message slips past the broker's disconnect.
MACHINE_CACHE_SECONDS = 30.0
#: Largest audit file, as `POST /api/v1/audits/` takes it.
MAX_AUDIT_BYTES = PlainTextParser.max_bytes


@dataclass
class Inbound:
    """One device message, as the worker received it."""

    serial: str
    kind: str  # devices.topics.INBOUND
    payload: bytes
    received_at: datetime
    correlation: str | None = None
    #: The broker's handle for the acknowledgement (paho's message id and QoS).
    mid: int = 0
    qos: int = 1
    #: The connection it came in on (the worker counts its connections).
    generation: int = 0


@dataclass
class Outcome:
    """The answer to one message, published on the device's `ack` topic."""

    ok: bool
    status: int
    accepted: int = 0
    duplicates: int = 0
    errors: dict[str, Any] = field(default_factory=dict)
    #: The newest time the document itself carries (a reading's, a vend's), for the lag.
    data_time: datetime | None = None

    def document(self, message: Inbound) -> dict:
        if self.ok:
            body = {"ok": True, "accepted": self.accepted, "duplicates": self.duplicates}
        else:
            body = {"ok": False, "status": self.status, "errors": self.errors}
        return {**body, "kind": message.kind, "correlation": message.correlation}


class MachineDirectory:
    """Serial → the machine, if it has an active device key; cached for a short while."""

    def __init__(self, *, ttl: float = MACHINE_CACHE_SECONDS, clock=time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._known: dict[str, tuple[float, Machine | None]] = {}

    def lookup(self, serials: set[str]) -> dict[str, Machine | None]:
        now = self.clock()
        missing = {s for s in serials if s not in self._known or self._known[s][0] <= now}
        if missing:
            found = {m.serial_number: m for m in Machine.objects.filter(
                serial_number__in=missing, device_keys__revoked_at__isnull=True).distinct()}
            for serial in missing:
                self._known[serial] = (now + self.ttl, found.get(serial))
        return {serial: self._known[serial][1] for serial in serials}


def rejected(status: int, errors: dict[str, Any]) -> Outcome:
    return Outcome(ok=False, status=status, errors=errors)


def _json(payload: bytes) -> Any:
    """The payload read by the HTTP endpoints' own JSON parser (ParseError if it is not
    JSON, too deeply nested, or holds NaN)."""
    return JSONParser().parse(io.BytesIO(payload))


def _newest_time(data: Any) -> datetime | None:
    """The latest `timestamp` of the document's items, when they carry one that parses."""
    items = data if isinstance(data, list) else [data]
    times = []
    for item in items:
        value = item.get("timestamp") if isinstance(item, dict) else None
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                continue
            if parsed.tzinfo is not None:
                times.append(parsed)
    return max(times, default=None)


def _guarded(message: Inbound, work: Callable[[], Outcome]) -> Outcome:
    """`work()`'s outcome; a failure that is not the database's answered as a 500."""
    try:
        return work()
    except DatabaseError:
        raise  # the batch cannot commit: the worker retries it whole
    except Exception:
        # A bug, not the device's fault: answered, acknowledged (a redelivery would fail the
        # same way forever) and logged with the message's identity.
        logger.exception("mqtt ingest: %s message of %s failed", message.kind, message.serial)
        return rejected(500, {"non_field_errors": ["The server failed to store this message; "
                                                    "it was not stored."]})


def _handle(message: Inbound, machine: Machine, now: datetime) -> Outcome:
    """A vend or audit message of a known machine, through the transports' shared services,
    in a savepoint of its own."""
    with transaction.atomic():
        if message.kind == "audit":
            return _audit(message, machine, now)
        try:
            data = _json(message.payload)
        except ParseError as exc:
            return rejected(400, {"non_field_errors": [str(exc.detail)]})
        try:
            result = ingest.ingest_vends_document(machine=machine, data=data, now=now)
        except ForeignVend as exc:
            return rejected(403, {"machineId": [str(exc)]})
        except VendsRejected as exc:
            return rejected(400, exc.errors)
        return _stored(result.accepted, result.duplicates, _newest_time(data))


def _audit(message: Inbound, machine: Machine, now: datetime) -> Outcome:
    if len(message.payload) > MAX_AUDIT_BYTES:
        return rejected(413, {"detail": [f"Larger than {MAX_AUDIT_BYTES} bytes."]})
    try:
        text = message.payload.decode("utf-8")
    except UnicodeDecodeError:  # as the text/plain parser: Latin-1 reads any byte
        text = message.payload.decode("latin-1")
    try:
        result = audits.import_audit(machine=machine, text=text, source=AuditSource.DEVICE,
                                     now=now)
    except audits.AuditRejected as exc:
        return rejected(exc.status, exc.detail)
    return Outcome(ok=True, status=201 if result.created else 200,
                   accepted=int(result.created), duplicates=int(not result.created))


def _stored(accepted: int, duplicates: int, data_time: datetime | None) -> Outcome:
    return Outcome(ok=True, status=201 if accepted else 200, accepted=accepted,
                   duplicates=duplicates, data_time=data_time)


@dataclass
class _Readings:
    """A valid telemetry message waiting for its machine's merged call."""

    index: int
    readings: list[Reading]
    data_time: datetime | None
    #: The timestamps of its readings that no earlier message of the run carried.
    sent: list[datetime] = field(default_factory=list)


class MachineMessages:
    """The messages of one machine in a batch, in arrival order."""

    def __init__(self, machine: Machine, messages: Sequence[Inbound], now: datetime,
                 outcomes: list[Outcome | None],
                 capacities: dict[str, int] | None = None) -> None:
        self.machine, self.messages, self.now, self.outcomes = machine, messages, now, outcomes
        self.run: list[_Readings] = []
        self._capacities = capacities
        #: The indexes (in `messages`) of the messages added, answered or queued.
        self.indexes: list[int] = []

    def add(self, index: int, message: Inbound) -> None:
        self.indexes.append(index)
        if message.kind != "telemetry":
            self.flush()
            self.outcomes[index] = _guarded(message, lambda: _handle(message, self.machine,
                                                                     self.now))
            return
        answer = _guarded(message, lambda: self._validate(index, message))
        if answer is not None:
            self.outcomes[index] = answer

    def _validate(self, index: int, message: Inbound) -> Outcome | None:
        """Queue the message's readings; its rejection, if they are not valid."""
        try:
            data = _json(message.payload)
        except ParseError as exc:
            return rejected(400, {"non_field_errors": [str(exc.detail)]})
        if self._capacities is None:
            self._capacities = services.bunker_capacities(machine_id=self.machine.pk)
        try:
            readings = services.validate_telemetry_document(
                machine=self.machine, data=data, now=self.now, capacities=self._capacities)
        except ForeignReading as exc:
            return rejected(403, {"machineId": [str(exc)]})
        except TelemetryRejected as exc:
            return rejected(400, exc.errors)
        self.run.append(_Readings(index, readings, _newest_time(data)))
        return None

    def merged(self) -> list[Reading]:
        """The queued messages' readings as one batch: a timestamp an earlier message of
        the run carried is that message's (each message is answered for the readings
        it sent first)."""
        seen: set[datetime] = set()
        merged = []
        for item in self.run:
            item.sent = []
            for reading in item.readings:
                if reading.timestamp not in seen:
                    seen.add(reading.timestamp)
                    merged.append(reading)
                    item.sent.append(reading.timestamp)
        return merged

    def answer(self, result: services.IngestResult) -> None:
        """Answer each queued message from the stored batch's result."""
        run, self.run = self.run, []
        for item in run:
            accepted = sum(1 for stamp in item.sent if stamp in result.stored)
            self.outcomes[item.index] = _stored(accepted, len(item.readings) - accepted,
                                                item.data_time)

    def flush(self) -> None:
        """Store the queued telemetry messages in one call and answer each."""
        if not self.run:
            return
        readings = self.merged()
        try:
            result = services.ingest_telemetry(machine=self.machine, readings=readings,
                                               now=self.now)
        except DatabaseError:
            raise
        except Exception:
            # Rolled back (its own savepoint): each message again alone, so that the one
            # that trips a bug is the only one answered with it.
            run, self.run = self.run, []
            logger.exception("mqtt ingest: merged telemetry of %s failed; storing its %d "
                             "messages one by one", self.machine.serial_number, len(run))
            for item in run:
                self._store_alone(item)
            return
        self.answer(result)

    def _store_alone(self, item: _Readings) -> None:
        def work() -> Outcome:
            result = services.ingest_telemetry(machine=self.machine, readings=item.readings,
                                               now=self.now)
            return _stored(result.accepted, result.duplicates, item.data_time)

        self.outcomes[item.index] = _guarded(self.messages[item.index], work)
