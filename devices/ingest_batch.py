"""What the MQTT ingestion worker does with a batch of device messages: the transactions.

The machines whose messages in the batch are all telemetry (the usual case) are stored in
ONE transaction (`services.ingest_telemetry_many`: a fixed number of queries for any number
of machines; a dozen per machine was most of the worker's time with one reading a message).
It locks their rows with SKIP LOCKED: a machine that another worker's transaction holds is
left for a second such transaction, which waits for the rows (in key order: two waiting
workers cannot deadlock), instead of holding every other machine of the batch while it
waits. A machine with a vend or audit message is one transaction of its own (its row locked
until the commit). What each machine's messages become is devices.ingest_messages'. The
broadcasts of the batch leave together once it is stored.

A database error (the server down) aborts the transaction under way and the batch: the
machines committed before it keep their answers, nothing is acknowledged yet, and the
worker tries the rest again.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from datetime import datetime

from django.db import DatabaseError, transaction
from django.utils import timezone

from devices.ingest_messages import (
    Inbound,
    MachineDirectory,
    MachineMessages,
    Outcome,
    rejected,
)
from machines.models import Machine
from realtime import broadcast
from telemetry import services

logger = logging.getLogger(__name__)


def store_batch(messages: Sequence[Inbound], directory: MachineDirectory, *,
                outcomes: list[Outcome | None] | None = None,
                pause_before_commit: float = 0.0) -> list[Outcome]:
    """Store `messages`; their outcomes, in the same order, once every one committed.
    Raises DatabaseError when some could not be committed; what was stored before is
    answered in `outcomes` then (a list of None the caller passes): called again with that
    list, the batch stores only the messages still None in it.

    The machines with only telemetry messages in the batch (the usual case) are stored
    together in one transaction (`services.ingest_telemetry_many`); a machine with a vend or
    an audit message, or one whose row another transaction holds, in a transaction of its
    own. The broadcasts of the whole batch leave together at the end.

    `pause_before_commit` (seconds, tests only) holds each transaction open after the work,
    so that a test can kill the worker between receiving and committing.
    """
    outcomes = [None] * len(messages) if outcomes is None else outcomes
    pending = [index for index, outcome in enumerate(outcomes) if outcome is None]
    machines = directory.lookup({messages[index].serial for index in pending})
    by_machine: dict[object, tuple[Machine, list[int]]] = {}
    for index in pending:
        machine = machines.get(messages[index].serial)
        if machine is None:
            outcomes[index] = rejected(404, {"non_field_errors": [
                f"No machine with serial {messages[index].serial} and an active device key."]})
        else:
            by_machine.setdefault(machine.pk, (machine, []))[1].append(index)
    now = timezone.now()
    with broadcast.publishing_together():
        telemetry_only = {pk: entry for pk, entry in by_machine.items()
                          if all(messages[index].kind == "telemetry" for index in entry[1])}
        alone = [pk for pk in by_machine if pk not in telemetry_only]
        answers: list[Outcome | None] = [None] * len(messages)
        batches = _validated(telemetry_only, messages, now, answers)
        # Machines another worker's batch holds (a device's messages go to both workers of
        # the shared subscription) are skipped, then stored together once that batch ends,
        # their messages as validated already: one by one they took half of the worker's
        # time in the ingest bench.
        held = _store_together(batches, outcomes, answers, now, pause_before_commit)
        if held is None:
            alone += list(batches)
        elif held and _store_together({pk: batches[pk] for pk in held}, outcomes, answers,
                                      now, pause_before_commit, wait=True) is None:
            alone += held
        # In an order of its own: two workers going through the same machines in the same
        # order would queue behind each other machine after machine. A transaction locks
        # one machine row, so no order can deadlock.
        random.shuffle(alone)
        for machine_id in alone:
            machine, indexes = by_machine[machine_id]
            _store_alone(machine, indexes, messages, now, outcomes, pause_before_commit)
    return outcomes  # type: ignore[return-value]  (every index was answered)


def _validated(entries: dict[object, tuple[Machine, list[int]]], messages: Sequence[Inbound],
               now: datetime, answers: list[Outcome | None]) -> dict[object, MachineMessages]:
    """The telemetry messages of these machines, validated (a rejection is answered in
    `answers`), with one query for all of their bunkers."""
    capacities = services.bunker_capacities_of(entries)
    batches = {}
    for machine_id, (machine, indexes) in entries.items():
        batch = MachineMessages(machine, messages, now, answers,
                                capacities=capacities.get(machine_id, {}))
        for index in indexes:
            batch.add(index, messages[index])
        batches[machine_id] = batch
    return batches


def _store_together(batches: dict[object, MachineMessages], outcomes: list[Outcome | None],
                    answers: list[Outcome | None], now: datetime, pause_before_commit: float,
                    wait: bool = False) -> list | None:
    """Store the valid readings of these machines in one transaction and, once it
    committed, move their answers to `outcomes`. Returns the ids of the machines another
    transaction holds (none if `wait`), or None if the transaction failed on something else
    than the database (each machine is then to be stored alone)."""
    queued = {pk: (batch.machine, batch.merged()) for pk, batch in batches.items() if batch.run}
    skipped: set = set()
    if queued:
        try:
            with transaction.atomic():
                results, skipped = services.ingest_telemetry_many(queued, now=now, wait=wait)
                if pause_before_commit:
                    time.sleep(pause_before_commit)
        except DatabaseError:
            raise
        except Exception:
            # A bug, rolled back: each machine again on its own, where each message is
            # answered alone if the machine's merged readings trip it again.
            logger.exception("mqtt ingest: telemetry of %d machines failed together; "
                             "storing them one by one", len(queued))
            return None
        for pk, result in results.items():
            batches[pk].answer(result)
    for pk, batch in batches.items():
        if pk not in skipped:
            for index in batch.indexes:
                outcomes[index] = answers[index]
    return list(skipped)


def _store_alone(machine: Machine, indexes: list[int], messages: Sequence[Inbound],
                 now: datetime, outcomes: list[Outcome | None],
                 pause_before_commit: float) -> None:
    """The messages of one machine in one transaction; answered once it committed."""
    answers: list[Outcome | None] = [None] * len(messages)
    with transaction.atomic():
        batch = MachineMessages(machine, messages, now, answers)
        for index in indexes:
            batch.add(index, messages[index])
        batch.flush()
        if pause_before_commit:
            time.sleep(pause_before_commit)
    for index in indexes:
        outcomes[index] = answers[index]
