"""Writes of slot stocks: the units left in each spiral slot of a machine with a planogram.

Kept by the batches that change them, through the hooks sales offers (registered in
`operations.apps`; sales does not import operations): a batch of vends takes what it sold
(`take_sold`, one UPDATE per batch, inside the batch's transaction and machine lock), and a
new planogram version stocks its new slots at capacity (`stock_new_slots`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from django.db import connection
from django.db.models import Case, F, IntegerField, Value, When
from django.db.models.functions import Greatest

from operations.models import SlotStock


def take_sold(*, machine, sold: Mapping[str, int], now: datetime) -> int:
    """Take `sold[code]` units from each of the machine's slots, never below zero; codes
    without a slot (a coffee button) are no one's stock. One UPDATE whatever the batch.
    Returns the rows changed."""
    if not sold:
        return 0
    if connection.vendor == "postgresql":
        # The codes and counts as two arrays joined in SQL: a fixed statement, not a CASE
        # compiled per batch (the ORM's compilation cost more than the update).
        table = connection.ops.quote_name(SlotStock._meta.db_table)
        codes, counts = zip(*sorted(sold.items()), strict=True)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS s SET level = GREATEST(s.level - v.n, 0), updated_at = %s "
                f"FROM unnest(%s::text[], %s::int[]) AS v(code, n) "
                f"WHERE s.machine_id = %s AND s.code = v.code",
                [now, list(codes), list(counts), machine.pk])
            return cursor.rowcount
    taken = Case(*(When(code=code, then=Value(count)) for code, count in sorted(sold.items())),
                 default=Value(0), output_field=IntegerField())
    return SlotStock.objects.filter(machine_id=machine.pk, code__in=list(sold)).update(
        level=Greatest(F("level") - taken, Value(0)), updated_at=now)


def stock_new_slots(*, planogram, selections: Sequence, now: datetime) -> int:
    """A slot stock at capacity for each selection of `planogram` with a capacity (a spiral
    slot) that the machine has none of yet: a new slot is filled when it is set up. Slots
    the machine had keep their level. Returns how many were created."""
    rows = [SlotStock(machine_id=planogram.machine_id, code=selection.code,
                      level=selection.capacity, counted_at=now)
            for selection in selections if selection.capacity]
    if not rows:
        return 0
    have = set(SlotStock.objects.filter(machine_id=planogram.machine_id,
                                        code__in=[row.code for row in rows])
               .values_list("code", flat=True))
    new = [row for row in rows if row.code not in have]
    SlotStock.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)
