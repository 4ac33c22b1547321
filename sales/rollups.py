"""The narrower daily rollups kept beside DailySales: DailyMachineSales (summed over
products) and DailyProductSales (summed over an organization's machines). A year of a
300-machine fleet is millions of DailySales rows but a few hundred thousand machine rows
and tens of thousands of product rows, which is what lets a year's report answer quickly.

Vend ingestion adds to the three tables in one transaction (`sales.ingest`). Every other
writer of DailySales rows rebuilds the narrower rows of what it wrote from DailySales here:
the demo's bulk seed, a row saved through the ORM (`sales.signals`), a machine deleted with
its rows, a bench's load. A rebuild deletes and re-inserts the rows of whole organization
days, so it must not run beside vend ingestion of the same days: it is for seeds, tests and
administrative deletes, never for the vend path.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from uuid import UUID

from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from sales.models import DailyMachineSales, DailyProductSales, DailySales

#: Each narrower table and the DailySales columns it keeps (besides vends and revenue).
NARROW_KEYS = {
    DailyMachineSales: ("organization_id", "machine_id", "payment_method", "day"),
    DailyProductSales: ("organization_id", "product_id", "payment_method", "day"),
}

#: A new primary key computed by the database, for INSERT ... SELECT (SQLite stores a UUID
#: as 32 hex digits).
_NEW_UUID = {"postgresql": "gen_random_uuid()", "sqlite": "lower(hex(randomblob(16)))"}


def rebuild_narrow_rollups(*, organization_ids: Iterable[UUID],
                           days: Iterable[date] | None = None) -> None:
    """Replace the DailyMachineSales and DailyProductSales rows of these organizations (on
    `days`, or on every day) with the sums of their DailySales rows: one DELETE and one
    INSERT ... SELECT ... GROUP BY per table, no rows through Python."""
    lookup = {"organization_id__in": list(organization_ids)}
    if days is not None:
        lookup["day__in"] = sorted(set(days))
        if not lookup["day__in"]:
            return
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    qn = connection.ops.quote_name
    with transaction.atomic():
        for model, keys in NARROW_KEYS.items():
            model.objects.filter(**lookup).delete()
            sums = (DailySales.objects.filter(**lookup).order_by().values(*keys)
                    .annotate(total_vends=Sum("vends"), total_revenue=Sum("revenue")))
            select, params = sums.query.sql_with_params()
            columns = ", ".join(qn(column) for column in ("id", "created_at", "updated_at",
                                                          *keys, "vends", "revenue"))
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {qn(model._meta.db_table)} ({columns}) "
                    f"SELECT {_NEW_UUID[connection.vendor]}, %s, %s, sums.* "
                    f"FROM ({select}) AS sums", [now, now, *params])


def rebuild_narrow_rollups_of(row: DailySales) -> None:
    """After a DailySales row was saved through the ORM: its organization's day again."""
    rebuild_narrow_rollups(organization_ids=[row.organization_id], days=[row.day])


def forget_machine(machine_id: UUID) -> None:
    """Before a machine is deleted: its DailySales rows go now, and the product rows of its
    organization's days are summed again without them (its DailyMachineSales rows go with
    it, by cascade). Costs a scan of the organization's rollups on the days it sold: a rare,
    administrative act."""
    rows = DailySales.objects.filter(machine_id=machine_id)
    days = set(rows.values_list("day", flat=True).distinct())
    organization_ids = set(rows.values_list("organization_id", flat=True).distinct())
    if not days:
        return
    with transaction.atomic():
        rows.delete()
        rebuild_narrow_rollups(organization_ids=organization_ids, days=days)
