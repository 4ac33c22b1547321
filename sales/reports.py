"""Sales reports: revenue and vends over a range of local days, grouped by day, machine,
product or payment method, with the top and bottom machines of the range.

Everything is read from the daily rollups, never from raw vends: a rollup row is already
one organization's local day, so a range of days is a range of `day` and the dates need no
time-zone arithmetic here. Each sum reads the narrowest rollup that still holds its column
(`NARROWEST`): by day, product or payment method the organization's rows per product ×
method × day (`DailyProductSales`: a year of a 300-machine, 40-product fleet is 44 k rows),
by machine, and for the top and bottom machines, the rows per machine × method × day
(`DailyMachineSales`: 0.33 M rows); `DailySales` (machine × product × method × day: 6.7 M)
holds the same sums in many more rows. Money is an integer in the currency's smallest unit
in use (UZS: sums).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from uuid import UUID

from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import QuerySet, Sum

from machines.models import Machine
from sales.models import (
    DailyMachineSales,
    DailyProductSales,
    DailySales,
    PaymentMethod,
    Product,
)

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


def rollups_in(scope: ReportScope, model=DailySales) -> QuerySet:
    """The rows of the scope in the rollup table `model` (unordered: every caller aggregates
    them)."""
    return model.objects.filter(organization_id__in=scope.organization_ids,
                                day__gte=scope.start, day__lte=scope.end).order_by()


def _sums(rows: QuerySet, *keys: str) -> QuerySet:
    return rows.values(*keys).annotate(revenue=Sum("revenue"), vends=Sum("vends"))


#: The rollup column each grouping sums by.
KEYS = {"day": "day", "machine": "machine_id", "product": "product_id",
        "paymentMethod": "payment_method"}
#: The rollup table each column is summed from: the one with the fewest rows that has it.
NARROWEST = {"day": DailyProductSales, "machine_id": DailyMachineSales,
             "payment_method": DailyProductSales, "product_id": DailyProductSales}
#: Every sum from DailySales, the widest rollup: what the narrower ones must equal.
WIDEST = dict.fromkeys(NARROWEST, DailySales)
_ZERO = {"revenue": 0, "vends": 0}
Sums = dict  # key value -> {"revenue", "vends"}


def sums_by(scope: ReportScope, key: str, *, per_machine: bool = False,
            tables: dict = NARROWEST) -> tuple[Sums, Sums]:
    """({`key` value: sums}, {machine id: sums} when `per_machine`, else {}), each from its
    table in `tables`. When both come from one table, on PostgreSQL one scan of it, which is
    what a report costs, the rows of a range being many more than its groups."""
    table = tables[key]
    if not per_machine or key == "machine_id":
        found = {row[key]: row for row in _sums(rollups_in(scope, table), key)}
        return found, (found if per_machine else {})
    if connection.vendor != "postgresql" or tables["machine_id"] is not table:
        return (sums_by(scope, key, tables=tables)[0],
                sums_by(scope, "machine_id", tables=tables)[0])
    found: Sums = {}
    machines: Sums = {}
    for (by_key, _), (machine_id, value), sums in grouping_sets(
            rollups_in(scope, table), ("machine_id", key), [("machine_id",), (key,)]):
        if by_key:
            found[value] = sums
        else:
            machines[machine_id] = sums
    return found, machines


def grouping_sets(rows: QuerySet, columns: tuple[str, ...],
                  sets: list[tuple[str, ...]]) -> list[tuple[tuple, tuple, dict]]:
    """The sums of `rows` for each grouping set over `columns`, in one scan (PostgreSQL's
    GROUPING SETS): [((GROUPING() of each column: 1 where summed away), (values), sums)]."""
    try:
        inner, params = (rows.order_by().values(*columns, "revenue", "vends").query
                         .sql_with_params())
    except EmptyResultSet:  # rows.none(): a search that matched nothing
        return []
    qn = connection.ops.quote_name
    names = ", ".join(qn(column) for column in columns)
    groups = ", ".join("(" + ", ".join(qn(column) for column in group) + ")" for group in sets)
    sql = (f"SELECT {', '.join(f'GROUPING({qn(c)})' for c in columns)}, {names}, "
           f"SUM({qn('revenue')}), SUM({qn('vends')}) FROM ({inner}) AS rollups "
           f"GROUP BY GROUPING SETS ({groups})")
    width = len(columns)
    with transaction.atomic(), connection.cursor() as cursor:
        # PostgreSQL's JIT compiles these sums for ~100 ms on every call, more than it
        # saves over a few hundred thousand rows.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, params)
        return [(tuple(row[:width]), tuple(row[width:2 * width]),
                 {"revenue": int(row[-2] or 0), "vends": int(row[-1] or 0)})
                for row in cursor.fetchall()]


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


def sales_report(scope: ReportScope, group_by: str, *, extremes: bool = True,
                 tables: dict = NARROWEST) -> Report:
    """The report of `scope` grouped by `group_by` (one of GROUP_BY), with totals and,
    unless `extremes` is False (a CSV), the top and bottom machines. `tables`: which rollup
    each sum reads (WIDEST: DailySales alone, the same figures slower)."""
    found, per_machine = sums_by(scope, KEYS[group_by], per_machine=extremes, tables=tables)
    rows = GROUPINGS[group_by](scope, found)
    top = bottom = []
    if extremes:
        machines = rows if group_by == "machine" else by_machine(scope, per_machine)
        top, bottom = top_and_bottom(machines)
    return Report(scope=scope, group_by=group_by, rows=rows, totals=totals_of(rows), top=top,
                  bottom=bottom)


def figures_of(rows: QuerySet[DailySales], limit: int = EXTREMES) -> dict:
    """The admin's figures of any selection of rollup rows (a filtered changelist): totals,
    per payment method, and the `limit` machines that sold most in it. One scan on
    PostgreSQL; machine names are read for the top machines only."""
    rows = rows.order_by()
    if connection.vendor == "postgresql":
        totals, methods, machines = dict(_ZERO), {}, {}
        for (no_machine, no_method), (machine_id, method), sums in grouping_sets(
                rows, ("machine_id", "payment_method"), [(), ("payment_method",),
                                                         ("machine_id",)]):
            if no_machine and no_method:
                totals = sums
            elif no_machine:
                methods[method] = sums
            else:
                machines[machine_id] = sums
    else:
        totals = {k: v or 0 for k, v in rows.aggregate(revenue=Sum("revenue"),
                                                       vends=Sum("vends")).items()}
        methods = {row["payment_method"]: row for row in _sums(rows, "payment_method")}
        machines = {row["machine_id"]: row for row in _sums(rows, "machine_id")}
    labels = dict(PaymentMethod.choices)
    best = sorted(machines.items(), key=lambda item: (-item[1]["revenue"], -item[1]["vends"],
                                                      str(item[0])))[:limit]
    names = dict(Machine.objects.filter(pk__in=[pk for pk, _ in best]).values_list("pk", "name"))
    return {
        **_figures(totals),
        "methods": [{"payment_method": method, "label": labels.get(method, method),
                     **_figures(sums)}
                    for method, sums in sorted(methods.items(),
                                               key=lambda item: (-item[1]["revenue"], item[0]))],
        "top": [{"machine_id": pk, "machine__name": names.get(pk, ""), **_figures(sums)}
                for pk, sums in best],
    }
