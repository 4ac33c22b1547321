"""The tills of `manage.py simulate_fleet`'s machines, read from the database: each machine's
planogram in force, and the cumulative counters its controller would have kept."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Count, Sum

from machines.models import Machine
from sales.dex import parse_dex
from sales.models import AuditRecord, PaymentMethod, Vend
from sales.selectors import planogram_at
from telemetry.simulated_sales import Counters, SimulatedSales, SimulatedSelection
from telemetry.simulator import SimulatedMachine


def till_for(machine: Machine, simulated: SimulatedMachine, rng: random.Random, *,
             sales_per_minute: float, collect_at: int, collect_every: timedelta | None,
             prefix: str, now: datetime | None = None) -> SimulatedSales | None:
    """The till of a machine with a planogram in force (None: telemetry only, as before
    planograms), resumed from its last audit and the vends since. A machine never audited
    gets a baseline audit read at `now` in `simulated.audits`, the start of its first
    collection's period. `machine` needs its bunkers and organization loaded."""
    planogram = planogram_at(machine)
    if planogram is None or not planogram.selections.all():
        return None
    # The server drains a recipe from the machine's first bunker of each ingredient.
    first_bunker: dict = {}
    for bunker in sorted(machine.bunkers.all(), key=lambda b: b.created_at):
        first_bunker.setdefault(bunker.ingredient_id, str(bunker.pk))
    selections = [
        SimulatedSelection(
            code=selection.code, price=selection.price,
            recipe=tuple((first_bunker[item.ingredient_id], item.grams)
                         for item in selection.recipe.all()
                         if item.ingredient_id in first_bunker),
            capacity=selection.capacity, par_level=selection.par_level,
            popularity=rng.uniform(0.5, 2.0))
        for selection in planogram.selections.all()
    ]
    counters, cash_in_box, last_audit = resume_counters(machine)
    sales = SimulatedSales(
        machine_id=str(machine.pk), serial_number=machine.serial_number,
        selections=selections, rng=rng, time_zone=ZoneInfo(machine.organization.time_zone),
        sales_per_minute=sales_per_minute, collect_at=collect_at, collect_every=collect_every,
        transaction_prefix=prefix, counters=counters, cash_in_box=cash_in_box,
        last_collection=last_audit, last_read_at=last_audit)
    if last_audit is None:
        now = now or datetime.now(UTC)
        simulated.audits.append(sales.audit(now))
        sales.last_collection = now
    return sales


def resume_counters(machine: Machine) -> tuple[Counters, int, datetime | None]:
    """(cumulative counters, cash in the box, time of the last audit) of `machine`: its last
    audit's counters plus the vends stored since (all its vends when it has no audit; the
    box is then taken as emptied at the baseline)."""
    last = (AuditRecord.objects.filter(machine=machine)
            .order_by("-audited_at", "-uploaded_at").first())
    counters = Counters.from_audit(parse_dex(last.raw_text)) if last else Counters()
    vends = Vend.objects.filter(machine=machine)
    if last is not None:
        vends = vends.filter(timestamp__gt=last.audited_at)
    rows = (vends.values("selection", "payment_method")
            .annotate(n=Count("id"), value=Sum("price"))
            .values_list("selection", "payment_method", "n", "value"))
    cash = 0
    for code, method, count, value in rows:
        counters.add(code, method, value or 0, vends=count)
        if method == PaymentMethod.CASH:
            cash += value or 0
    return counters, cash if last is not None else 0, last.audited_at if last else None
