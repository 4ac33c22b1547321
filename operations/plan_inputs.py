"""Reads of the planner: the facts the visit rules judge, the stock the pick list fills and
the operators who drive, for one organization, each in a fixed number of queries (a fleet
of hundreds of machines is planned in one call).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max, OuterRef, Q, Subquery

from machines.models import OPEN_TASK_STATUSES, Bunker, Machine, TaskKind, TaskStatus
from machines.selectors import operators_in
from operations.models import Depot, Forecast, OperatorProfile, PackSize, SlotStock
from operations.pick_list import LOOSE, Pack, Stock
from operations.rules import MachineFacts, earliest_run_out
from sales.cash import cash_estimates
from sales.models import Planogram, Selection
from telemetry.models import MachineError, Severity

#: Open tasks that bring an operator to the machine anyway: put the visit on the route.
ROUTED_TASK_KINDS = (TaskKind.REFILL, TaskKind.COLLECTION)


def machine_facts(machines: list[Machine], *, cash_threshold: int) -> dict[object, MachineFacts]:
    """`{machine id: MachineFacts}` of `machines` (one organization's)."""
    ids = [machine.pk for machine in machines]
    run_outs: dict[object, list[datetime]] = defaultdict(list)
    for machine_id, runs_out_at, earliest_at in Forecast.objects.filter(
            machine_id__in=ids).values_list("machine_id", "runs_out_at", "earliest_at"):
        moment = earliest_run_out(runs_out_at, earliest_at)
        if moment is not None:
            run_outs[machine_id].append(moment)
    critical = dict(MachineError.objects.filter(
        machine_id__in=ids, severity=Severity.CRITICAL, resolved_at__isnull=True)
        .values("machine_id").annotate(n=Count("id")).values_list("machine_id", "n"))
    from machines.models import Task

    cleaned = dict(Task.objects.filter(machine_id__in=ids, kind=TaskKind.CLEANING,
                                       status=TaskStatus.DONE)
                   .values("machine_id").annotate(at=Max("completed_at"))
                   .values_list("machine_id", "at"))
    tasks = dict(Task.objects.filter(machine_id__in=ids, kind__in=ROUTED_TASK_KINDS,
                                     status__in=OPEN_TASK_STATUSES)
                 .values("machine_id").annotate(n=Count("id")).values_list("machine_id", "n"))
    cash = cash_estimates(machine_ids=ids) if cash_threshold else {}
    return {
        machine.pk: MachineFacts(
            machine_id=machine.pk, run_out_times=tuple(run_outs.get(machine.pk, ())),
            open_critical_errors=critical.get(machine.pk, 0),
            cash_expected=cash.get(machine.pk, 0), cash_threshold=cash_threshold,
            last_cleaning_at=cleaned.get(machine.pk), in_service_since=machine.created_at,
            open_tasks=tasks.get(machine.pk, 0))
        for machine in machines
    }


def pack_table(organization_id) -> dict[tuple[str, object], Pack]:
    """`{("ingredient"|"product", item id): Pack}` of the organization."""
    table = {}
    for ingredient_id, product_id, quantity, weight in PackSize.objects.filter(
            organization_id=organization_id).values_list("ingredient_id", "product_id",
                                                         "quantity", "weight_grams"):
        if ingredient_id is not None:
            table["ingredient", ingredient_id] = Pack(quantity, quantity)
        else:
            table["product", product_id] = Pack(quantity, weight)
    return table


def stocks_of(machine_ids: Iterable, *, organization_id, at: datetime
              ) -> dict[object, list[Stock]]:
    """Every bunker of the machines, and every slot of the planogram in force at `at`, as
    the pick list reads them: level and consumption from the forecast when there is one,
    else the level stored (a bunker's current or expected level, a slot's stock count;
    a slot never counted is taken as empty) with no consumption."""
    ids = list(machine_ids)
    packs = pack_table(organization_id)
    forecasts = {}
    for row in Forecast.objects.filter(machine_id__in=ids).values(
            "machine_id", "bunker_id", "slot_code", "level", "rate_per_hour", "computed_at"):
        forecasts[row["bunker_id"] or (row["machine_id"], row["slot_code"])] = row
    stocks: dict[object, list[Stock]] = defaultdict(list)
    for bunker in Bunker.objects.filter(machine_id__in=ids).order_by("machine_id", "pk"):
        known = forecasts.get(bunker.pk)
        if known is not None:
            level, since, rate = known["level"], known["computed_at"], known["rate_per_hour"]
        else:
            level = (bunker.expected_level_grams if bunker.expected_level_grams is not None
                     else bunker.current_level_grams)
            since, rate = at, 0.0
        stocks[bunker.machine_id].append(Stock(
            bunker.pk, "", bunker.ingredient_id, None, bunker.capacity_grams,
            min(level, bunker.capacity_grams), since, rate,
            packs.get(("ingredient", bunker.ingredient_id), LOOSE)))
    counted = {(row[0], row[1]): (row[2], row[3]) for row in SlotStock.objects.filter(
        machine_id__in=ids).values_list("machine_id", "code", "level", "counted_at")}
    in_force = Planogram.objects.filter(machine=OuterRef("planogram__machine"),
                                        effective_from__lte=at).order_by("-effective_from")
    selections = (Selection.objects.filter(planogram__machine_id__in=ids)
                  .filter(planogram_id=Subquery(in_force.values("pk")[:1]))
                  .filter(Q(par_level__isnull=False) | Q(capacity__isnull=False))
                  .values_list("planogram__machine_id", "code", "product_id", "par_level",
                               "capacity").order_by("planogram__machine_id", "code"))
    for machine_id, code, product_id, par_level, capacity in selections:
        par = par_level if par_level is not None else capacity
        known = forecasts.get((machine_id, code))
        if known is not None:
            level, since, rate = known["level"], known["computed_at"], known["rate_per_hour"]
        else:
            level, counted_at = counted.get((machine_id, code), (0, None))
            since, rate = counted_at or at, 0.0
        stocks[machine_id].append(Stock(None, code, None, product_id, par, min(level, par),
                                        since, rate, packs.get(("product", product_id), LOOSE)))
    return stocks


@dataclass(frozen=True)
class Driver:
    """An operator who drives a route: their profile (unsaved defaults when they have none)
    and the depot they start from (None: the organization has no depot)."""

    user: object
    profile: OperatorProfile
    depot: Depot | None


def drivers_of(organization, *, include_user_ids: Iterable[int] = ()) -> list[Driver]:
    """The organization's active operators with an active operator profile, and the users
    of `include_user_ids` (operators whose route already holds visits) with their profile
    or the defaults, ordered by username."""
    first_depot = Depot.objects.filter(organization=organization).order_by("name", "pk").first()
    operators = operators_in(organization)
    profiles = {profile.user_id: profile for profile in OperatorProfile.objects.filter(
        organization=organization, user__in=operators).select_related("start_depot", "user")}
    wanted = {user_id for user_id, profile in profiles.items() if profile.active}
    wanted.update(include_user_ids)
    drivers = []
    for user in operators.model.objects.filter(pk__in=wanted).order_by("username"):
        profile = profiles.get(user.pk) or OperatorProfile(organization=organization, user=user)
        drivers.append(Driver(user, profile, profile.start_depot or first_depot))
    return drivers
