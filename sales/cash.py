"""Cash in the machines: the estimate since the last collection (rules in
`sales.cash_rules`), the collection task it opens past the organization's threshold, and
recording a collection, which closes that task.

The threshold check runs after vend ingestion and audit import have committed, each in a
transaction of its own: it must not hold the machine's lock the vends took, nor cost more
than one query per batch while a task is open or no audit covers the period.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import BigIntegerField, Exists, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from machines.models import OPEN_TASK_STATUSES, Machine, Priority, Task, TaskKind, TaskStatus
from machines.selectors import is_manager_of, is_operator_of
from machines.services import announce_task_change, set_tasks_status
from notifications.messages import default_text
from sales import cash_rules
from sales.cash_rules import AuditCash, CashEstimate
from sales.models import AuditRecord, CashCollection, PaymentMethod, Vend
from telemetry.alerts import refill_assignee_id
from vendhub.fields import utc_iso8601

logger = logging.getLogger(__name__)

#: Before any vend: "since the beginning" for a machine never collected.
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)
#: How far ahead of the server's clock a collection time may be (a phone's clock).
CLOCK_SKEW = timedelta(minutes=5)


class CollectionRejected(Exception):
    """A collection that cannot be recorded: `errors` maps the field to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


class CollectionPermissionDenied(Exception):
    """Only a manager of the organization or the collection task's assignee may record."""


@dataclass(frozen=True)
class CashPosition:
    """A machine's estimate and whether a collection task is open for it."""

    estimate: CashEstimate
    last_collection_id: object | None
    open_task_id: object | None


def _open_collection_tasks(machine_id) -> Q:
    return Q(machine_id=machine_id, kind=TaskKind.COLLECTION, status__in=OPEN_TASK_STATUSES)


def _cash_vends(machine_ref, since, until: datetime | None):
    vends = Vend.objects.filter(machine_id=machine_ref, payment_method=PaymentMethod.CASH,
                                timestamp__gt=since)
    return vends.filter(timestamp__lte=until) if until is not None else vends


def cash_position(*, machine: Machine, until: datetime | None = None) -> CashPosition:
    """The cash in `machine`'s box since its last collection up to `until` (now).

    One query when no audit was stored since the collection; two more when one was (its
    counters, and the cash vends around the span it covers)."""
    collections = CashCollection.objects.filter(machine_id=OuterRef("pk"))
    if until is not None:
        collections = collections.filter(collected_at__lt=until)
    last = collections.order_by("-collected_at")
    since = Coalesce(Subquery(last.values("collected_at")[:1]), Value(BEGINNING))
    vend_cash = (_cash_vends(OuterRef("pk"), OuterRef("since"), until).order_by()
                 .values("machine_id").annotate(total=Sum("price")).values("total"))
    audits = AuditRecord.objects.filter(machine_id=OuterRef("pk"),
                                        audited_at__gt=OuterRef("since"))
    open_task = Subquery(Task.objects.filter(_open_collection_tasks(OuterRef("pk")))
                         .order_by("created_at").values("pk")[:1])
    row = (Machine.objects.filter(pk=machine.pk)
           .annotate(since=since, last_collection_id=Subquery(last.values("pk")[:1]),
                     open_task_id=open_task,
                     vend_cash=Coalesce(Subquery(vend_cash), Value(0),
                                        output_field=BigIntegerField()),
                     audited=Exists(audits.filter(audited_at__lte=until) if until else audits))
           .values("since", "last_collection_id", "vend_cash", "open_task_id", "audited")
           .get())
    since_at = None if row["last_collection_id"] is None else row["since"]
    span = None
    if row["audited"] and since_at is not None:
        span = cash_rules.covering_span(_audit_cash(machine, since_at, until), since_at)
    if span is None:
        result = cash_rules.estimate(since=since_at, vend_cash=row["vend_cash"])
    else:
        around = _cash_vends(machine.pk, since_at, until).aggregate(
            before=Sum("price", filter=Q(timestamp__lte=span.start)),
            after=Sum("price", filter=Q(timestamp__gt=span.end)))
        result = cash_rules.estimate(since=since_at, vend_cash=row["vend_cash"], span=span,
                                     vend_cash_before_span=around["before"] or 0,
                                     vend_cash_after_span=around["after"] or 0)
    return CashPosition(result, row["last_collection_id"], row["open_task_id"])


def cash_estimates(*, machine_ids) -> dict:
    """`{machine id: expected cash}` of many machines (the route planner's "cash over
    threshold"), the same estimate as `cash_position`: one query for every machine's cash
    vends since its last collection, then `cash_position` only for the machines with an
    audit stored since then (the audit may replace part of the vends' sum)."""
    collections = CashCollection.objects.filter(machine_id=OuterRef("pk"))
    since = Coalesce(Subquery(collections.order_by("-collected_at").values("collected_at")[:1]),
                     Value(BEGINNING))
    vend_cash = (_cash_vends(OuterRef("pk"), OuterRef("since"), None).order_by()
                 .values("machine_id").annotate(total=Sum("price")).values("total"))
    rows = (Machine.objects.filter(pk__in=list(machine_ids))
            .annotate(since=since, collected=Exists(collections),
                      vend_cash=Coalesce(Subquery(vend_cash), Value(0),
                                         output_field=BigIntegerField()),
                      audited=Exists(AuditRecord.objects.filter(
                          machine_id=OuterRef("pk"), audited_at__gt=OuterRef("since"))))
            .values_list("pk", "vend_cash", "collected", "audited"))
    estimates = {}
    for pk, cash, collected, audited in rows:
        if collected and audited:
            cash = cash_position(machine=Machine(pk=pk)).estimate.expected
        estimates[pk] = cash
    return estimates


def _audit_cash(machine: Machine, since: datetime, until: datetime | None) -> list[AuditCash]:
    # Audits whose period may begin at the collection: the one read at it may be stored
    # a little before the collection is recorded (COLLECTION_AUDIT_TOLERANCE).
    audits = AuditRecord.objects.filter(
        machine=machine, audited_at__gte=since - cash_rules.COLLECTION_AUDIT_TOLERANCE)
    if until is not None:
        audits = audits.filter(audited_at__lte=until)
    rows = audits.values_list("pk", "previous_id", "previous__audited_at", "audited_at",
                              "period__cash__toBox", "period__baseline")
    return [AuditCash(pk, previous_id, period_from, period_to,
                      to_box if isinstance(to_box, int) else None, bool(baseline))
            for pk, previous_id, period_from, period_to, to_box, baseline in rows]


def collection_texts(*, machine: Machine, expected: int, threshold: int) -> dict:
    """The title and notes of a collection task the server opens, as Task fields: keyed
    (rendered in each reader's language), the site's default language stored beside."""
    params = {"machine": machine.name, "expected": expected, "threshold": threshold}
    return {"params": params,
            "title_key": "cash_collection.title",
            "title": default_text("cash_collection.title", params)[:200],
            "notes_key": "cash_collection.notes",
            "notes": default_text("cash_collection.notes", params)}


def open_collection_task_if_due(*, machine: Machine) -> Task | None:
    """A cash-collection task for `machine` when its estimate reached its organization's
    threshold and none is open; assigned like refill tasks (the responsible operator while
    they are an active operator of the organization), who is notified.

    Call it outside the transaction that stored the vends or the audit. The database's
    `one_open_collection_task_per_machine` constraint is the guarantee against two
    concurrent batches opening two; the query only avoids a failed insert."""
    threshold = machine.organization.cash_collection_threshold
    if not threshold:
        return None
    probe = _probe(machine)
    if probe.task_open:
        return None
    expected = probe.vend_cash
    if probe.audited:  # an audit may cover the time since the collection: the whole rule
        position = cash_position(machine=machine)
        if position.open_task_id is not None:
            return None
        expected = position.estimate.expected
    if not cash_rules.collection_due(expected=expected, threshold=threshold, task_open=False):
        return None
    try:
        with transaction.atomic():
            task = Task.objects.create(
                organization_id=machine.organization_id, machine=machine,
                assignee_id=refill_assignee_id(machine), kind=TaskKind.COLLECTION,
                priority=Priority.MEDIUM,
                **collection_texts(machine=machine, expected=expected, threshold=threshold))
            announce_task_change(task=task, previous_assignee_id=None,
                                 previous_status=task.status, actor=None)
            return task
    except IntegrityError:  # a concurrent batch opened it first
        return None


@dataclass(frozen=True)
class _Probe:
    task_open: bool
    vend_cash: int  # cash vends since the last collection; 0 when a task is open
    audited: bool  # an audit stored since the last collection (never collected: False)


def _probe(machine: Machine) -> _Probe:
    """What the check after every vend batch needs, in one hand-written statement: the
    same cash vends since the last collection as `cash_position`, whose ORM query costs
    milliseconds of Python per batch (measured: 7-8 ms of a 100-vend batch under load,
    against about 1 ms for this). The sum is skipped while a task is open (a CASE branch's
    subquery is evaluated only when taken), so a box left uncollected for months costs
    nothing more per batch."""
    qn = connection.ops.quote_name
    vend, task = Vend._meta, Task._meta
    collection, audit = CashCollection._meta, AuditRecord._meta
    machine_id = Machine._meta.pk.get_db_prep_value(machine.pk, connection)
    beginning = vend.get_field("timestamp").get_db_prep_value(BEGINNING, connection)
    sql = (
        f"SELECT p.task_open, "
        f"CASE WHEN p.task_open THEN 0 ELSE COALESCE((SELECT SUM({qn('price')}) "
        f"FROM {qn(vend.db_table)} WHERE {qn('machine_id')} = %s "
        f"AND {qn('payment_method')} = %s AND {qn('timestamp')} > COALESCE(p.since, %s)), 0) "
        f"END, "
        f"CASE WHEN p.task_open OR p.since IS NULL THEN FALSE ELSE EXISTS(SELECT 1 "
        f"FROM {qn(audit.db_table)} WHERE {qn('machine_id')} = %s "
        f"AND {qn('audited_at')} > p.since) END "
        f"FROM (SELECT EXISTS(SELECT 1 FROM {qn(task.db_table)} WHERE {qn('machine_id')} = %s "
        f"AND {qn('kind')} = %s AND {qn('status')} IN (%s, %s)) AS task_open, "
        f"(SELECT MAX({qn('collected_at')}) FROM {qn(collection.db_table)} "
        f"WHERE {qn('machine_id')} = %s) AS since) p"
    )
    params = [machine_id, str(PaymentMethod.CASH), beginning, machine_id, machine_id,
              str(TaskKind.COLLECTION), *map(str, OPEN_TASK_STATUSES), machine_id]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        task_open, vend_cash, audited = cursor.fetchone()
    return _Probe(bool(task_open), int(vend_cash or 0), bool(audited))


def check_collection_due(*, machine: Machine) -> None:
    """`open_collection_task_if_due` after an ingest that has committed: a database
    failure here is logged, not raised, so the device's acknowledged data stays
    acknowledged (the next batch or audit checks again)."""
    try:
        open_collection_task_if_due(machine=machine)
    except DatabaseError:
        logger.exception("cash collection check failed for machine %s", machine.pk)


def may_record_collection(*, machine: Machine, actor) -> bool:
    """A manager of the machine's organization, or an operator of it with an open
    collection task of the machine on their board."""
    if is_manager_of(actor, machine.organization_id):
        return True
    return (is_operator_of(actor, machine.organization_id)
            and Task.objects.filter(_open_collection_tasks(machine.pk),
                                    assignee_id=actor.pk).exists())


def collection_time_errors(*, machine: Machine, collected_at: datetime,
                           now: datetime) -> dict[str, list[str]]:
    """Why `collected_at` cannot be a new collection of `machine` ({} if it can)."""
    if collected_at > now + CLOCK_SKEW:
        return {"collectedAt": [_("A collection cannot be in the future.")]}
    latest = (CashCollection.objects.filter(machine=machine).order_by("-collected_at")
              .values_list("collected_at", flat=True).first())
    if latest is not None and collected_at <= latest:
        return {"collectedAt": [_("Must be after the machine's last collection "
                                  "(%(latest)s).") % {"latest": utc_iso8601(latest)}]}
    return {}


def record_collection(*, machine: Machine, amount: int, actor, collected_at: datetime | None
                      = None, notes: str = "", authorize: bool = True) -> CashCollection:
    """Record `amount` counted out of `machine` at `collected_at` (now): see
    `save_collection`. Raises CollectionPermissionDenied unless `actor` may
    (`may_record_collection`; `authorize=False` when the caller checked already)."""
    if authorize and not may_record_collection(machine=machine, actor=actor):
        raise CollectionPermissionDenied
    return save_collection(collection=CashCollection(
        machine=machine, amount=amount, collected_at=collected_at, notes=notes,
        collected_by=actor))


def save_collection(*, collection: CashCollection) -> CashCollection:
    """Store an unsaved collection (machine, amount, collected_at or None for now, notes,
    collected_by): its expected amount is the estimate at `collected_at`, and the machine's
    open collection task (the collector's own first) is done.

    Raises CollectionRejected for a time in the future or not after the last collection."""
    now = timezone.now()
    machine, actor = collection.machine, collection.collected_by
    collection.collected_at = collection.collected_at or now
    with transaction.atomic():
        # One collection of a machine at a time: "the last collection" must not move under us.
        Machine.objects.select_for_update(of=("self",)).filter(pk=machine.pk).first()
        errors = collection_time_errors(machine=machine, collected_at=collection.collected_at,
                                        now=now)
        if errors:
            raise CollectionRejected(errors)
        estimate = cash_position(machine=machine, until=collection.collected_at).estimate
        collection.organization_id = machine.organization_id
        collection.expected = estimate.expected
        collection.expected_source = estimate.source
        collection.period_from = estimate.since
        collection.task = _task_to_close(machine=machine, actor=actor)
        collection.save()
        if collection.task is not None:
            _close_task(task=collection.task, collection=collection, actor=actor)
    return collection


def _task_to_close(*, machine: Machine, actor) -> Task | None:
    tasks = Task.objects.filter(_open_collection_tasks(machine.pk)).select_for_update()
    mine = tasks.filter(assignee_id=getattr(actor, "pk", None)).order_by("created_at").first()
    return mine or tasks.order_by(F("created_by").asc(nulls_first=True), "created_at").first()


def _close_task(*, task: Task, collection: CashCollection, actor) -> None:
    """Done, with counted vs expected in its notes while they are the server's text (a
    person's notes stay as written). The actor was authorized already (a manager, the
    assignee, or staff of the organization in the admin)."""
    if task.notes_key:
        task.params = {**task.params, "counted": collection.amount,
                       "expected": collection.expected, "difference": collection.difference}
        task.notes_key = "cash_collection.counted"
        task.notes = default_text(task.notes_key, task.params)
        task.save(update_fields=["params", "notes_key", "notes", "updated_at"])
    set_tasks_status(tasks=[task], status=TaskStatus.DONE, actor=actor)


def collection_document(collection: CashCollection) -> dict:
    """The API's view of one collection: counted vs expected."""
    user = collection.collected_by
    return {
        "id": str(collection.pk),
        "machineId": str(collection.machine_id),
        "collectedAt": utc_iso8601(collection.collected_at),
        "periodFrom": utc_iso8601(collection.period_from) if collection.period_from else None,
        "amount": collection.amount,
        "expected": collection.expected,
        "expectedSource": collection.expected_source,
        "difference": collection.difference,
        "collectedBy": user.pk if user else None,
        "collectedByName": (user.get_full_name() or user.get_username()) if user else None,
        "taskId": str(collection.task_id) if collection.task_id else None,
        "notes": collection.notes,
    }


def position_document(*, machine: Machine, position: CashPosition) -> dict:
    """The API's view of a machine's current cash estimate."""
    def when(value):
        return utc_iso8601(value) if value else None

    estimate = position.estimate
    threshold = machine.organization.cash_collection_threshold
    return {
        "machineId": str(machine.pk),
        "since": when(estimate.since),
        "lastCollectionId": str(position.last_collection_id)
        if position.last_collection_id else None,
        "expected": estimate.expected,
        "source": estimate.source,
        "vendCash": estimate.vend_cash,
        "auditCash": estimate.audit_cash,
        "auditedFrom": when(estimate.audited_from),
        "auditedTo": when(estimate.audited_to),
        "threshold": threshold,
        "overThreshold": bool(threshold) and estimate.expected >= threshold,
        "openTaskId": str(position.open_task_id) if position.open_task_id else None,
    }
