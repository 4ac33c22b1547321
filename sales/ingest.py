"""Vend ingestion: a batch of one machine in one transaction, idempotent per
(machine, transaction id).

In order: lock the machine row (batches of one machine queue up, so the rollup updates
below never race), resolve each vend's product with the planogram in force at its time,
claim the vends' keys with `INSERT ... ON CONFLICT DO NOTHING RETURNING` (sales.models.
VendKey: a retried vend is not stored again and fires nothing), store the vends whose key
was claimed, then for the new vends only: subtract coffee recipes from the bunkers'
expected levels, add to the daily rollups with F() increments, move the machine's
`last_sale_at`, and leave `machine:sale`, `sales:today` and the live map's
`machine:revenue` to `transaction.on_commit`. After the commit, new cash vends check the
machine's cash against its organization's collection threshold (`sales.cash`).
"""

from __future__ import annotations

import bisect
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from machines.models import Bunker, Machine
from realtime import events
from sales import cash
from sales.conf import vend_retention_days
from sales.models import (
    DailyMachineSales,
    DailyProductSales,
    DailySales,
    PaymentMethod,
    Planogram,
    Selection,
    Vend,
    VendKey,
)
from sales.selectors import planogram_versions, sales_day, sales_today_of
from sales.vends import VendIn, parse_vends
from telemetry.applying import binding_cursor  # server-side binding on PostgreSQL
from telemetry.conf import telemetry_settings
from telemetry.selectors import iso8601


@dataclass(frozen=True)
class VendIngestResult:
    machine_id: uuid.UUID
    received: int
    accepted: int  # new vends stored
    duplicates: int  # retries: already stored, or repeated in the batch

    def as_dict(self) -> dict:
        return {"machineId": str(self.machine_id), "received": self.received,
                "accepted": self.accepted, "duplicates": self.duplicates}


class _Planograms:
    """The selection of a code at a time, over the versions of one machine."""

    def __init__(self, versions: list[Planogram]) -> None:
        self.starts = [p.effective_from for p in versions]
        self.selections = [{s.code: s for s in p.selections.all()} for p in versions]

    def at(self, code: str, when: datetime) -> Selection | None:
        index = bisect.bisect_right(self.starts, when) - 1
        return self.selections[index].get(code) if index >= 0 else None


#: What apps built on sales do with a batch's new vends, registered in their
#: AppConfig.ready (sales does not import them): `hook(machine=, sold={code: count}, now=)`
#: in the batch's transaction, under the machine lock (operations' slot stocks: one UPDATE
#: per batch), and `hook(machines=[machine], now=)` once the batch committed (its forecasts),
#: as telemetry's after-commit hooks are called.
IN_BATCH_HOOKS: list[Callable[..., object]] = []
AFTER_COMMIT_HOOKS: list[Callable[..., object]] = []


def ingest_vends_document(*, machine: Machine, data: Any,
                          now: datetime | None = None) -> VendIngestResult:
    """A device's vends document (one vend or a batch, decoded JSON) as every transport
    takes it (`POST /api/v1/sales/`, the MQTT `sales` topic): validated by
    `sales.vends.parse_vends`, stored by `ingest_vends`.

    Raises sales.vends.ForeignMachine or VendsRejected; then nothing is stored.
    """
    now = now or timezone.now()
    config = telemetry_settings()
    vends = parse_vends(data, machine_id=machine.pk, now=now, max_batch=config.max_batch,
                        max_clock_skew=timedelta(seconds=config.max_clock_skew_seconds),
                        retention_days=vend_retention_days())
    return ingest_vends(machine=machine, vends=vends, now=now)


def ingest_vends(*, machine: Machine, vends: Sequence[VendIn],
                 now: datetime | None = None) -> VendIngestResult:
    """Store `vends` of `machine` (validated by sales.vends.parse_vends) and apply the new
    ones. Returns once the transaction has committed."""
    now = now or timezone.now()
    unique = list({v.transaction_id: v for v in reversed(vends)}.values())[::-1]
    with transaction.atomic():
        locked = (Machine.objects.select_for_update(of=("self",))
                  .select_related("organization").get(pk=machine.pk))
        planograms = _Planograms(planogram_versions(
            machine_id=locked.pk, until=max(v.timestamp for v in unique)))
        chosen = [(vend, planograms.at(vend.selection, vend.timestamp)) for vend in unique]
        new = _insert_new(locked, chosen, now)
        if new:
            _apply(locked, new, now)
            sold = Counter(vend.selection for vend, _selection in new)
            for hook in IN_BATCH_HOOKS:
                hook(machine=locked, sold=sold, now=now)
            for hook in AFTER_COMMIT_HOOKS:
                transaction.on_commit(partial(hook, machines=[locked], now=now), robust=True)
    if any(vend.payment_method == PaymentMethod.CASH for vend, _selection in new):
        # Committed: the check takes no lock of the batch and sees the new cash.
        cash.check_collection_due(machine=locked)
    return VendIngestResult(machine.pk, len(vends), len(new), len(vends) - len(new))


_COLUMNS = ("id", "created_at", "updated_at", "machine", "transaction_id", "selection",
            "product", "price", "payment_method", "provider", "timestamp")
_KEY_COLUMNS = ("machine", "transaction_id", "timestamp")


def _insert_new(machine: Machine, chosen: list[tuple[VendIn, Selection | None]],
                now: datetime) -> list[tuple[VendIn, Selection | None]]:
    """Claim the vends' keys (`INSERT ... ON CONFLICT (machine, transaction id) DO NOTHING
    RETURNING`), then store the vends whose key was claimed: the new ones, returned."""
    by_transaction = {vend.transaction_id: (vend, selection) for vend, selection in chosen}
    claim, params = _insert_values(VendKey, _KEY_COLUMNS, [
        (machine.pk, vend.transaction_id, vend.timestamp) for vend, _selection in chosen])
    qn = connection.ops.quote_name
    claim += (f" ON CONFLICT ({qn('machine_id')}, {qn('transaction_id')}) DO NOTHING "
              f"RETURNING {qn('transaction_id')}")
    with binding_cursor() as cursor:
        cursor.execute(claim, params)
        claimed = {value for (value,) in cursor.fetchall()}
        new = [item for key, item in by_transaction.items() if key in claimed]
        if new:
            cursor.execute(*_insert_values(Vend, _COLUMNS, [
                (uuid.uuid4(), now, now, machine.pk, vend.transaction_id, vend.selection,
                 selection.product_id if selection else None, vend.price,
                 vend.payment_method, vend.provider, vend.timestamp)
                for vend, selection in new]))
    return new


def _apply(machine: Machine, new: list[tuple[VendIn, Selection | None]], now: datetime) -> None:
    _drain_recipes(machine, new, now)
    today = _add_to_rollups(machine, new, now)
    latest_vend, latest_selection = max(new, key=lambda item: item[0].timestamp)
    Machine.objects.filter(Q(last_sale_at__isnull=True)
                           | Q(last_sale_at__lt=latest_vend.timestamp), pk=machine.pk).update(
        last_sale_at=latest_vend.timestamp)
    product = latest_selection.product if latest_selection else None
    events.emit_machine_sale(machine.pk, {
        "machineId": str(machine.pk),
        "selection": latest_vend.selection,
        "productId": str(product.pk) if product else None,
        "productName": product.name if product else None,
        "price": latest_vend.price,
        "paymentMethod": latest_vend.payment_method,
        "timestamp": iso8601(latest_vend.timestamp),
        "count": len(new),
        "revenue": sum(vend.price for vend, _ in new),
    })
    totals = sales_today_of(organization_id=machine.organization_id, machine_id=machine.pk,
                            day=today)
    events.emit_sales_today({"organizationId": str(machine.organization_id),
                             "revenue": totals["revenue"], "vends": totals["vends"],
                             "date": today.isoformat()})
    # The map and the fleet list learn of the sale without a room per machine.
    last_sale = max(filter(None, (machine.last_sale_at, latest_vend.timestamp)))
    events.emit_machine_revenue(machine.organization_id, {
        "machineId": str(machine.pk), "revenueToday": totals["machineRevenue"],
        "vendsToday": totals["machineVends"], "lastSaleAt": iso8601(last_sale),
        "date": today.isoformat()})


def _drain_recipes(machine: Machine, new: list[tuple[VendIn, Selection | None]],
                   now: datetime) -> None:
    """Subtract each coffee vend's recipe from the expected level of the machine's bunker of
    that ingredient (never under 0). A reading of the bunker resets the estimate."""
    grams: Counter = Counter()
    for _vend, selection in new:
        for item in selection.recipe.all() if selection else ():
            grams[item.ingredient_id] += item.grams
    if not grams:
        return
    bunkers = Bunker.objects.filter(machine=machine, ingredient_id__in=list(grams)).order_by(
        "ingredient_id", "created_at")
    seen = set()
    for bunker_id, ingredient_id in bunkers.values_list("pk", "ingredient_id"):
        if ingredient_id in seen:  # two bunkers of one ingredient: the first one drains
            continue
        seen.add(ingredient_id)
        Bunker.objects.filter(pk=bunker_id).update(
            expected_level_grams=Greatest(
                Coalesce(F("expected_level_grams"), F("current_level_grams"))
                - Value(grams[ingredient_id]), Value(0)),
            updated_at=now)


def _add_to_rollups(machine: Machine, new: list[tuple[VendIn, Selection | None]],
                    now: datetime) -> date:
    """Add the new vends to DailySales and the narrower rollups, returns today. One
    `INSERT ... ON CONFLICT DO UPDATE` of increments per table and partial unique constraint
    (rows with a product, rows without), not an UPDATE per (product, method, day): a batch
    of a ten-product machine touches up to thirty rows; on PostgreSQL the upserts travel as
    one statement (data-modifying WITH), one round trip. The machine lock serializes the
    batches of one machine, and every DailySales row belongs to one machine, so two upserts
    never wait on each other's rows."""
    time_zone = machine.organization.time_zone
    totals: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for vend, selection in new:
        key = (selection.product_id if selection else None, vend.payment_method,
               sales_day(vend.timestamp, time_zone))
        totals[key][0] += 1
        totals[key][1] += vend.price
    statements = []
    for with_product in (True, False):
        rows = [(key, value) for key, value in totals.items()
                if (key[0] is not None) is with_product]
        if rows:
            statements.append(_rollup_upsert(machine, rows, now, with_product=with_product))
    _execute_together(statements + _narrow_rollup_upserts(machine, totals, now))
    return sales_day(now, time_zone)


def _narrow_rollup_upserts(machine: Machine, totals: dict[tuple, list[int]],
                           now: datetime) -> list[tuple[str, list]]:
    """The same increments summed over products (DailyMachineSales) and over the
    organization's machines (DailyProductSales), one upsert per table and product-or-not:
    a year's report reads these. Product rows are shared by the organization's machines,
    whose batches do not queue on one lock: rows go in key order, so two batches lock
    them in the same order and never deadlock."""
    organization_id = machine.organization_id
    per_machine: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for (_product_id, method, day), (count, revenue) in totals.items():
        per_machine[(method, day)][0] += count
        per_machine[(method, day)][1] += revenue
    statements = [_increments_upsert(DailyMachineSales, _MACHINE_ROLLUP_COLUMNS, [
        (uuid.uuid4(), now, now, organization_id, machine.pk, method, day, count, revenue)
        for (method, day), (count, revenue) in sorted(per_machine.items())],
        target=("machine_id", "payment_method", "day"))]
    for with_product in (True, False):
        rows = [(uuid.uuid4(), now, now, organization_id, product_id, method, day, count,
                 revenue)
                for (product_id, method, day), (count, revenue) in sorted(
                    totals.items(), key=lambda item: (str(item[0][0]), *item[0][1:]))
                if (product_id is not None) is with_product]
        if rows:
            statements.append(_increments_upsert(
                DailyProductSales, _PRODUCT_ROLLUP_COLUMNS, rows,
                target=("organization_id", "day", "payment_method")
                + (("product_id",) if with_product else ()),
                where=f"IS {'NOT ' if with_product else ''}NULL"))
    return statements


_ROLLUP_COLUMNS = ("id", "created_at", "updated_at", "organization", "machine", "product",
                   "payment_method", "day", "vends", "revenue")
_MACHINE_ROLLUP_COLUMNS = ("id", "created_at", "updated_at", "organization", "machine",
                           "payment_method", "day", "vends", "revenue")
_PRODUCT_ROLLUP_COLUMNS = ("id", "created_at", "updated_at", "organization", "product",
                           "payment_method", "day", "vends", "revenue")


#: PostgreSQL array types of the inserted columns, for the unnest() inserts.
_PG_ARRAY_TYPES = {
    "id": "uuid", "created_at": "timestamptz", "updated_at": "timestamptz", "machine": "uuid",
    "organization": "uuid", "product": "uuid", "transaction_id": "text", "selection": "text",
    "price": "int8", "payment_method": "text", "provider": "text", "timestamp": "timestamptz",
    "day": "date", "vends": "int8", "revenue": "int8",
}


def _insert_values(model, names: tuple[str, ...], rows: list[tuple]) -> tuple[str, list]:
    """`INSERT INTO <table> (<columns>) <rows>` of `rows` (values in `names` order) and its
    parameters: one statement for a whole batch. On PostgreSQL the rows travel as one array
    per column (`unnest`, binary), as telemetry ingestion sends readings: a handful of
    parameters instead of one per value, each of which psycopg would parse and quote (more
    CPU than the insert itself); elsewhere as a multi-row VALUES."""
    meta = model._meta
    fields = [meta.get_field(name) for name in names]
    qn = connection.ops.quote_name
    if connection.vendor == "postgresql":
        values = "SELECT * FROM unnest(" + ", ".join(
            f"%b::{_PG_ARRAY_TYPES[name]}[]" for name in names) + ")"
        params = [list(column) for column in zip(*rows, strict=True)]
    else:
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        values = "VALUES " + ", ".join([row] * len(rows))
        params = [field.get_db_prep_save(value, connection)
                  for values_ in rows for field, value in zip(fields, values_, strict=True)]
    return (f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "
            f"{values}", params)


def _rollup_upsert(machine: Machine, rows: list[tuple[tuple, list[int]]], now: datetime, *,
                   with_product: bool) -> tuple[str, list]:
    # The conflict target names the partial unique constraint the rows fall under.
    return _increments_upsert(DailySales, _ROLLUP_COLUMNS, [
        (uuid.uuid4(), now, now, machine.organization_id, machine.pk, product_id, method, day,
         count, revenue) for (product_id, method, day), (count, revenue) in rows],
        target=("machine_id", "day", "payment_method") + (("product_id",) if with_product
                                                          else ()),
        where="IS NOT NULL" if with_product else "IS NULL")


def _increments_upsert(model, columns: tuple[str, ...], rows: list[tuple], *,
                       target: tuple[str, ...], where: str | None = None) -> tuple[str, list]:
    """(SQL, params) inserting `rows` into a rollup table, adding vends and revenue to the
    row of the same key (`target`, under the partial unique constraint `product_id <where>`
    if given)."""
    insert, params = _insert_values(model, columns, rows)
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    condition = f"WHERE {qn('product_id')} {where} " if where else ""
    sql = (f"{insert} ON CONFLICT ({', '.join(qn(c) for c in target)}) {condition}"
           f"DO UPDATE SET {qn('vends')} = {table}.{qn('vends')} + EXCLUDED.{qn('vends')}, "
           f"{qn('revenue')} = {table}.{qn('revenue')} + EXCLUDED.{qn('revenue')}, "
           f"{qn('updated_at')} = EXCLUDED.{qn('updated_at')}")
    return sql, params


def _execute_together(statements: list[tuple[str, list]]) -> None:
    """Run the upserts: on PostgreSQL as one statement, each but the last a data-modifying
    WITH (they write different tables or rows, so none needs another's result); a round
    trip each cost as much as the rollups' writes themselves. Elsewhere one by one."""
    with binding_cursor() as cursor:
        if connection.vendor != "postgresql":
            for sql, params in statements:
                cursor.execute(sql, params)
            return
        *first, (last, last_params) = statements
        with_ = ", ".join(f"u{number} AS ({sql})" for number, (sql, _) in enumerate(first))
        cursor.execute(f"WITH {with_} {last}" if first else last,
                       [param for _, params in first for param in params] + last_params)
