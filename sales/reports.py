"""Sales reports: revenue and vends over a range of local days, grouped by day, machine,
product or payment method, with the top and bottom machines of the range.

Everything is read from the `DailySales` rollups, never from raw vends: a rollup row is
already one machine × product × payment method × the organization's local day, so a
range of days is a range of `DailySales.day` and the dates need no time-zone arithmetic
here. Money is an integer in the currency's smallest unit in use (UZS: sums).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from uuid import UUID

from django.db import connection, transaction
from django.db.models import QuerySet, Sum

from machines.models import Machine
from sales.models import DailySales, PaymentMethod, Product

#: The groupings of `GET /api/v1/sales/report/?groupBy=`.
GROUP_BY = ("day", "machine", "product", "paymentMethod")
#: A range without `from`: this many days, today included.
DEFAULT_RANGE_DAYS = 30
#: The longest range one report covers (a leap year), so one request cannot sum forever.
MAX_RANGE_DAYS = 366
#: Machines in the top and the bottom lists.
EXTREMES = 5


@dataclass(frozen=True)
class ReportScope:
    """Which rollups a report reads: these organizations, `start` to `end` inclusive."""

    organization_ids: tuple[UUID, ...]
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def rollups_in(scope: ReportScope) -> QuerySet[DailySales]:
    """The rollup rows of the scope (unordered: every caller aggregates them)."""
    return DailySales.objects.filter(organization_id__in=scope.organization_ids,
                                     day__gte=scope.start, day__lte=scope.end).order_by()


def _sums(rows: QuerySet, *keys: str) -> QuerySet:
    return rows.values(*keys).annotate(revenue=Sum("revenue"), vends=Sum("vends"))


#: The DailySales column each grouping sums by.
KEYS = {"day": "day", "machine": "machine_id", "product": "product_id",
        "paymentMethod": "payment_method"}
_ZERO = {"revenue": 0, "vends": 0}
Sums = dict  # key value -> {"revenue", "vends"}


def sums_by(scope: ReportScope, key: str, *, per_machine: bool = False) -> tuple[Sums, Sums]:
    """({`key` value: sums}, {machine id: sums} when `per_machine`, else {}): on
    PostgreSQL one scan of the rollups for both (GROUPING SETS), which is what a report
    costs, the rows of a range being many more than its groups."""
    if not per_machine or key == "machine_id":
        found = {row[key]: row for row in _sums(rollups_in(scope), key)}
        return found, (found if per_machine else {})
    if connection.vendor != "postgresql":
        return sums_by(scope, key)[0], sums_by(scope, "machine_id")[0]
    table, qn = DailySales._meta.db_table, connection.ops.quote_name
    sql = (f"SELECT GROUPING({qn('machine_id')}), {qn('machine_id')}, {qn(key)}, "
           f"SUM({qn('revenue')}), SUM({qn('vends')}) FROM {qn(table)} "
           f"WHERE {qn('organization_id')} = ANY(%s) AND {qn('day')} >= %s "
           f"AND {qn('day')} <= %s "
           f"GROUP BY GROUPING SETS (({qn('machine_id')}), ({qn(key)}))")
    found: Sums = {}
    machines: Sums = {}
    with transaction.atomic(), connection.cursor() as cursor:
        # PostgreSQL's JIT compiles these sums for ~100 ms on every call, more than it
        # saves over a few hundred thousand rows.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, [list(scope.organization_ids), scope.start, scope.end])
        for by_key, machine_id, value, revenue, vends in cursor.fetchall():
            sums = {"revenue": int(revenue), "vends": int(vends)}
            if by_key:
                found[value] = sums
            else:
                machines[machine_id] = sums
    return found, machines


def totals_of(rows: Iterable[dict]) -> dict:
    """{revenue, vends} of grouped rows (a report's rows cover the whole scope once)."""
    revenue = vends = 0
    for row in rows:
        revenue += row["revenue"]
        vends += row["vends"]
    return {"revenue": revenue, "vends": vends}


def by_day(scope: ReportScope, found: Sums | None = None) -> list[dict]:
    """Every day of the range, oldest first, days without a sale as zeros (a chart's axis
    then has no holes). `found`: the sums per day, when already read."""
    found = sums_by(scope, "day")[0] if found is None else found
    days = (scope.start + timedelta(days=offset) for offset in range(scope.days))
    return [{"day": day, **_figures(found.get(day))} for day in days]


def _figures(sums: dict | None) -> dict:
    sums = sums or _ZERO
    return {"revenue": sums["revenue"], "vends": sums["vends"]}


def by_payment_method(scope: ReportScope, found: Sums | None = None) -> list[dict]:
    """Every payment method, zeros included, the largest revenue first."""
    found = sums_by(scope, "payment_method")[0] if found is None else found
    rows = [{"payment_method": method, **_figures(found.get(method))}
            for method in PaymentMethod.values]
    return sorted(rows, key=lambda r: (-r["revenue"], -r["vends"], r["payment_method"]))


def by_product(scope: ReportScope, found: Sums | None = None) -> list[dict]:
    """Products that sold in the range, the largest revenue first; vends of a selection the
    planogram did not name are one row with `product_id` None. Summed by id alone, names
    read afterwards: joining first would carry the names through the whole aggregate."""
    found = sums_by(scope, "product_id")[0] if found is None else found
    products = {pk: (name, sku) for pk, name, sku in Product.objects.filter(
        pk__in=[pk for pk in found if pk]).values_list("pk", "name", "sku")}
    rows = []
    for pk, sums in found.items():
        name, sku = products.get(pk, (None, None))
        rows.append({"product_id": pk, "product_name": name, "sku": sku, **_figures(sums)})
    return sorted(rows, key=lambda r: (-r["revenue"], -r["vends"], r["product_name"] or "\uffff",
                                       str(r["product_id"])))


def by_machine(scope: ReportScope, found: Sums | None = None) -> list[dict]:
    """Every machine of the organizations, the largest revenue first, machines without a
    sale in the range last (as zeros, by name): a machine that stopped selling is in the
    report, not missing from it."""
    found = sums_by(scope, "machine_id")[0] if found is None else found
    machines = (Machine.objects.filter(organization_id__in=scope.organization_ids)
                .order_by().values_list("pk", "name", "serial_number", "organization_id"))
    rows = [{"machine_id": pk, "machine_name": name, "serial_number": serial,
             "organization_id": organization_id, **_figures(found.get(pk))}
            for pk, name, serial, organization_id in machines]
    return sorted(rows, key=lambda r: (-r["revenue"], -r["vends"], r["machine_name"],
                                       str(r["machine_id"])))


def top_and_bottom(machine_rows: list[dict], limit: int = EXTREMES) -> tuple[list, list]:
    """(top, bottom) of `by_machine`'s rows: the `limit` best sellers (machines that sold),
    and the `limit` weakest, the weakest first, machines that sold nothing included."""
    top = [row for row in machine_rows[:limit] if row["vends"] or row["revenue"]]
    bottom = sorted(machine_rows, key=lambda r: (r["revenue"], r["vends"], r["machine_name"],
                                                 str(r["machine_id"])))[:limit]
    return top, bottom


GROUPINGS = {"day": by_day, "machine": by_machine, "product": by_product,
             "paymentMethod": by_payment_method}


@dataclass(frozen=True)
class Report:
    scope: ReportScope
    group_by: str
    rows: list[dict]
    totals: dict
    top: list[dict]
    bottom: list[dict]


def sales_report(scope: ReportScope, group_by: str, *, extremes: bool = True) -> Report:
    """The report of `scope` grouped by `group_by` (one of GROUP_BY), with totals and,
    unless `extremes` is False (a CSV), the top and bottom machines."""
    found, per_machine = sums_by(scope, KEYS[group_by], per_machine=extremes)
    rows = GROUPINGS[group_by](scope, found)
    top = bottom = []
    if extremes:
        machines = rows if group_by == "machine" else by_machine(scope, per_machine)
        top, bottom = top_and_bottom(machines)
    return Report(scope=scope, group_by=group_by, rows=rows, totals=totals_of(rows), top=top,
                  bottom=bottom)


def figures_of(rows: QuerySet[DailySales], limit: int = EXTREMES) -> dict:
    """The admin's figures of any selection of rollup rows (a filtered changelist): totals,
    per payment method, and the `limit` machines that sold most in it."""
    rows = rows.order_by()
    totals = rows.aggregate(revenue=Sum("revenue"), vends=Sum("vends"))
    labels = dict(PaymentMethod.choices)
    methods = [{"label": labels.get(row["payment_method"], row["payment_method"]), **row}
               for row in _sums(rows, "payment_method").order_by("-revenue")]
    top = list(_sums(rows, "machine_id", "machine__name").order_by("-revenue", "machine__name")
               [:limit])
    return {"revenue": totals["revenue"] or 0, "vends": totals["vends"] or 0,
            "methods": methods, "top": top}
