"""Planning the day: which machines an organization's operators visit, in which order, and
what they bring (`plan_day`); re-ordering one route (`replan_route`); a manager's move of a
visit to another operator or day (`move_visit`); the nightly plan of tomorrow.

Every write runs in one transaction that first locks the organization's row (FOR NO KEY
UPDATE: it does not block inserts that reference the organization, such as sales rollups),
so two planners of one organization (a manager's button and the nightly sweep of another
process) run one after the other and the second sees the first's routes. `route:updated` is
emitted for every route written, after commit.

Re-planning keeps what has happened: visits that are not PLANNED any more (done, checked
in, skipped) stay where they are, and a manager's pinned visits stay on their route.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date as Date
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext as _

from machines.models import Machine, Organization
from machines.selectors import is_manager_of, is_operator_of
from operations.events import emit_route_updated
from operations.models import (
    KEPT_VISIT_STATUSES,
    PlanningSettings,
    Route,
    RouteStatus,
    Visit,
    VisitStatus,
)
from operations.plan_inputs import drivers_of, machine_facts
from operations.route_builder import (
    Candidate,
    Lane,
    RouteBuilder,
    Unassigned,
    day_start,
    planning_option,
    zone_of,
)
from operations.rules import MANUAL, visit_reasons
from operations.selectors import with_route_details

logger = logging.getLogger(__name__)

#: Routes a plan may still change; done and cancelled ones are history.
OPEN_ROUTE_STATUSES = (RouteStatus.PLANNED, RouteStatus.IN_PROGRESS)


class PlanningError(Exception):
    """A request the planner refuses: `errors` maps the field to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


class PlanningPermissionDenied(Exception):
    """Only a manager of the organization may move visits."""


@dataclass
class DayPlan:
    """What `plan_organization_day` did: the day's routes (every open one, changed or not),
    the machines that need a visit but are on no route (with why), and the machines that
    need one but cannot be routed (no coordinates)."""

    organization: Organization
    date: Date
    routes: list[Route] = field(default_factory=list)
    unassigned: list[Unassigned] = field(default_factory=list)
    unroutable: list[Machine] = field(default_factory=list)

    @property
    def stops(self) -> int:
        return sum(len(route.visits.all()) for route in self.routes)

    @property
    def distance_m(self) -> int:
        return sum(route.distance_m for route in self.routes)

    @property
    def load_grams(self) -> int:
        return sum(route.load_grams for route in self.routes)


def local_today(organization, now: datetime | None = None) -> Date:
    return (now or timezone.now()).astimezone(zone_of(organization)).date()


def _lock(organization) -> None:
    Organization.objects.select_for_update(no_key=True).filter(pk=organization.pk).first()


def _day_routes(organization, day: Date):
    visits = Visit.objects.select_related("machine").prefetch_related("lines").order_by(
        "sequence", "created_at")
    return (Route.objects.filter(organization=organization, date=day)
            .select_related("operator").prefetch_related(Prefetch("visits", queryset=visits))
            .select_for_update(of=("self",)))


def _kept(visit: Visit) -> bool:
    return visit.status != VisitStatus.PLANNED


def _emit(route_ids, *, also=()) -> list[Route]:
    """Emit `route:updated` for the routes of `route_ids` (written); the routes of both
    `route_ids` and `also`, with their details, by operator."""
    emitted = set(route_ids)
    routes = list(with_route_details(Route.objects.filter(pk__in=[*emitted, *also]))
                  .order_by("operator__username", "pk"))
    for route in routes:
        if route.pk in emitted:
            emit_route_updated(route)
    return routes


def plan_day(*, organization, date: Date, now: datetime | None = None) -> list[Route]:
    """Plan (or re-plan) the organization's routes of `date`; the day's open routes.
    See `plan_organization_day` for what was left out."""
    return plan_organization_day(organization=organization, date=date, now=now).routes


def plan_organization_day(*, organization, date: Date, now: datetime | None = None) -> DayPlan:
    """Choose the machines that need a visit on `date` (operations.rules), assign them to the
    organization's operators and order each route (operations.solver), with each visit's
    pick list. Existing routes of the day are re-planned: kept visits stay, pinned visits
    stay on their route, other planned visits may move or go (no longer needed)."""
    now = now or timezone.now()
    plan = DayPlan(organization, date)
    with transaction.atomic():
        _lock(organization)
        routes = list(_day_routes(organization, date))
        open_routes = [r for r in routes if r.status in OPEN_ROUTE_STATUSES]
        held = {visit.machine_id for route in routes for visit in route.visits.all()
                if _kept(visit) or route.status not in OPEN_ROUTE_STATUSES}
        busy = [r.operator_id for r in open_routes
                if any(_kept(v) or v.pinned for v in r.visits.all())]
        lanes = [Lane(driver) for driver in drivers_of(organization, include_user_ids=busy)]
        lane_of = {lane.driver.user.pk: number for number, lane in enumerate(lanes)}
        for route in open_routes:
            if route.operator_id in lane_of:
                lane = lanes[lane_of[route.operator_id]]
                lane.route = route
                lane.kept = [v for v in route.visits.all() if _kept(v)]
        planned = {v.machine_id: v for r in open_routes for v in r.visits.all()
                   if not _kept(v)}
        candidates = _candidates(organization, date, planned=planned, held=held,
                                 lane_of=lane_of, plan=plan)
        # Planned visits of machines that no longer need one (refilled since) go; a
        # manager's pinned visit stays whatever the rules say.
        routed = {candidate.machine.pk for candidate in candidates}
        Visit.objects.filter(pk__in=[v.pk for machine_id, v in planned.items()
                                     if machine_id not in routed and not v.pinned]).delete()
        builder = RouteBuilder(organization=organization, day=date, lanes=lanes,
                               candidates=candidates, now=now)
        written = {route.pk for route in builder.run()}
        plan.unassigned = builder.unassigned
        # Routes of operators who no longer plan routes lose what was only planned.
        for route in open_routes:
            if route.operator_id not in lane_of:
                written.add(_release(route, now=now))
        plan.routes = _emit(written, also=[route.pk for route in open_routes])
    return plan


def _candidates(organization, day: Date, *, planned: dict, held: set, lane_of: dict,
                plan: DayPlan) -> list[Candidate]:
    settings = PlanningSettings.for_organization(organization.pk)
    machines = list(Machine.objects.filter(organization=organization).exclude(pk__in=held)
                    .order_by("name", "pk"))
    facts = machine_facts(machines, cash_threshold=organization.cash_collection_threshold)
    start = day_start(organization, day)
    candidates = []
    for machine in machines:
        reasons = visit_reasons(facts[machine.pk], day_start=start,
                                horizon_hours=settings.horizon_hours,
                                cleaning_interval_days=settings.cleaning_interval_days)
        visit = planned.get(machine.pk)
        pinned = visit is not None and visit.pinned
        if not reasons and not pinned:
            continue
        if machine.latitude is None or machine.longitude is None:
            plan.unroutable.append(machine)
            continue
        if pinned:
            reasons = list(dict.fromkeys([*reasons, *visit.reasons])) or [MANUAL]
        candidates.append(Candidate(
            machine, reasons, visit,
            lane_of.get(visit.route.operator_id) if pinned else None))
    return candidates


def _release(route: Route, *, now: datetime):
    """Remove a route's planned, unpinned visits (its operator plans no routes any more)."""
    route.visits.filter(status=VisitStatus.PLANNED, pinned=False).delete()
    route.planned_at, route.version = now, route.version + 1
    route.save(update_fields=["planned_at", "version", "updated_at"])
    return route.pk


def _replan(route: Route, *, now: datetime) -> None:
    """Re-order `route`'s planned visits after its kept ones (nothing is added or
    removed: a visit that no longer fits stays at the end, untimed)."""
    organization = route.organization
    route = _day_routes(organization, route.date).get(pk=route.pk)
    visits = list(route.visits.all())
    drivers = drivers_of(organization, include_user_ids=[route.operator_id])
    driver = next(d for d in drivers if d.user.pk == route.operator_id)
    lane = Lane(driver, route, [v for v in visits if _kept(v)])
    candidates = [Candidate(v.machine, list(v.reasons) or [MANUAL], v, 0) for v in visits
                  if not _kept(v) and v.machine.latitude is not None
                  and v.machine.longitude is not None]
    builder = RouteBuilder(organization=organization, day=route.date, lanes=[lane],
                           candidates=candidates, now=now, keep_dropped=True)
    builder.run()


def replan_route(route: Route, *, now: datetime | None = None) -> Route:
    """Re-order the route's planned visits with the solver from where it stands (after its
    done and checked-in visits), recompute their times, lines and the route's totals, bump
    its version and emit `route:updated`. The route, reloaded with its details."""
    now = now or timezone.now()
    with transaction.atomic():
        _lock(route.organization)
        _replan(route, now=now)
        return _emit([route.pk])[0]


def move_visit(visit: Visit, *, operator=None, date: Date | None = None, actor,
               now: datetime | None = None) -> tuple[Route, Route]:
    """A manager moves a visit not yet done or under way to `operator`'s route (creating
    it) and/or to `date`, pinned there; both routes are re-optimized. (source route, target
    route), reloaded.

    Raises PlanningPermissionDenied unless `actor` manages the organization, PlanningError
    naming the field for a visit done or under way (`status`), an operator who is not an active
    operator of the organization, or a day that has passed."""
    now = now or timezone.now()
    source = visit.route
    organization = source.organization
    if not is_manager_of(actor, organization.pk):
        raise PlanningPermissionDenied
    target_operator_id = getattr(operator, "pk", operator) or source.operator_id
    target_date = date or source.date
    if visit.status in KEPT_VISIT_STATUSES:
        raise PlanningError({"status": [_("A visit that is done or under way cannot move.")]})
    if not is_operator_of(target_operator_id, organization.pk):
        raise PlanningError({"operatorId": [_("Choose an active operator of the visit's "
                                              "organization.")]})
    if target_date < local_today(organization, now):
        raise PlanningError({"date": [_("A day that has passed cannot be planned.")]})
    with transaction.atomic():
        _lock(organization)
        visit = Visit.objects.select_for_update().select_related("route").get(pk=visit.pk)
        if visit.status in KEPT_VISIT_STATUSES:
            raise PlanningError({"status": [_("A visit that is done or under way cannot "
                                              "move.")]})
        source = visit.route
        target, _created = Route.objects.get_or_create(
            organization=organization, operator_id=target_operator_id, date=target_date,
            defaults={"planned_at": now})
        if target.status not in OPEN_ROUTE_STATUSES:
            raise PlanningError({"date": [_("That route is %(status)s.")
                                          % {"status": target.status}]})
        twin = target.visits.filter(machine_id=visit.machine_id).exclude(pk=visit.pk).first()
        if twin is not None:
            if _kept(twin):
                raise PlanningError({"status": [_("The machine is already visited on that "
                                                 "route.")]})
            twin.delete()
        # A skipped visit moved to another operator or day is planned again there.
        visit.route, visit.pinned, visit.status = target, True, VisitStatus.PLANNED
        visit.reasons = list(dict.fromkeys([*visit.reasons, MANUAL]))
        visit.sequence = 10_000  # last until the re-plan orders it
        visit.save(update_fields=["route", "pinned", "status", "reasons", "sequence",
                                  "updated_at"])
        if source.pk != target.pk:
            _replan(source, now=now)
        _replan(target, now=now)
        routes = {route.pk: route for route in _emit([source.pk, target.pk])}
    return routes[source.pk], routes[target.pk]


# The nightly plan ---------------------------------------------------------------------------

#: Organizations and days this process has planned at night (each sweep would otherwise
#: check again); the database (routes planned for the day) is the guard across processes.
_nightly_done: set[tuple[object, Date]] = set()


def plan_tomorrow_if_due(*, now: datetime | None = None) -> list[DayPlan]:
    """The watchdog's sweep check: for every organization whose local time is past
    `OPERATIONS["NIGHTLY_PLAN_HOUR"]`, plan tomorrow once, unless routes of tomorrow were
    planned already (by a manager, or by another process's sweep). At most one
    organization per sweep, so the offline sweeps are never held up for long."""
    now = now or timezone.now()
    hour = planning_option("NIGHTLY_PLAN_HOUR")
    if hour is None:  # turned off
        return []
    # Only organizations with someone to drive: the others have nothing to plan.
    planned = Organization.objects.filter(operator_profiles__active=True).distinct()
    for organization in planned.order_by("pk"):
        local = now.astimezone(zone_of(organization))
        tomorrow = local.date() + timedelta(days=1)
        if local.hour < int(hour) or (organization.pk, tomorrow) in _nightly_done:
            continue
        _nightly_done.add((organization.pk, tomorrow))
        plan = _plan_if_unplanned(organization, tomorrow, now)
        return [plan] if plan is not None else []
    return []


def _plan_if_unplanned(organization, day: Date, now: datetime) -> DayPlan | None:
    with transaction.atomic():
        _lock(organization)  # the second process waits here, then sees the routes
        if Route.objects.filter(organization=organization, date=day,
                                planned_at__isnull=False).exists():
            return None
        plan = plan_organization_day(organization=organization, date=day, now=now)
    logger.info("nightly plan of %s for %s: %d routes, %d stops, %d unassigned",
                organization, day, len(plan.routes), plan.stops, len(plan.unassigned))
    return plan
