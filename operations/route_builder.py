"""Turns operators and machines into routes: builds the solver's problem from them, solves it
and writes the routes, visits and pick-list lines (`operations.planning` decides what goes
in and holds the transaction; this module does the work for one organization and day).

Times given to the solver are seconds from the planned day's local midnight; a route's
kept visits (done, at the machine, skipped) are not re-ordered: the route's remaining part
starts where the last of them is, when it ends, with what the van has left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date as Date
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from machines.models import Machine
from operations import pick_list, solver
from operations.distances import distance_source
from operations.models import PlanningSettings, Route, Visit, VisitLine, VisitStatus
from operations.plan_inputs import Driver, pack_table, stocks_of
from operations.rules import priority

#: Why a machine that needs a visit is on no route (DayPlan.unassigned).
NO_OPERATOR = "no_operator"
NO_DEPOT = "no_depot"
CAPACITY = solver.CAPACITY
TIME = solver.TIME


def planning_option(name: str):
    """`OPERATIONS[name]` with the planner's defaults."""
    defaults = {"SOLVER_TIME_LIMIT_S": 5.0, "NIGHTLY_PLAN_HOUR": 2}
    return (getattr(settings, "OPERATIONS", {}) or {}).get(name, defaults.get(name))


def zone_of(organization) -> ZoneInfo:
    try:
        return ZoneInfo(organization.time_zone)
    except (KeyError, ValueError):
        return timezone.get_default_timezone()


def day_start(organization, day: Date) -> datetime:
    """The planned day's local midnight in the organization's time zone."""
    return datetime.combine(day, datetime.min.time(), tzinfo=zone_of(organization))


@dataclass
class Lane:
    """One operator's route being (re)planned."""

    driver: Driver
    route: Route | None = None
    #: Visits kept as they are (not PLANNED), in their order; the rest of the route follows.
    kept: list[Visit] = field(default_factory=list)
    #: Filled by `RouteBuilder.build`: the matrix points of the depot and the kept visits.
    depot_point: int | None = None
    kept_points: list[int] = field(default_factory=list)


@dataclass
class Candidate:
    """A machine to route: its reasons, its visit already on a route (None: new) and the
    lane it is pinned to (None: any)."""

    machine: Machine
    reasons: list[str]
    visit: Visit | None = None
    lane: int | None = None


@dataclass(frozen=True)
class Unassigned:
    machine: Machine
    reasons: list[str]
    why: str  # CAPACITY, TIME, NO_OPERATOR or NO_DEPOT


def _located(machine: Machine) -> bool:
    return machine.latitude is not None and machine.longitude is not None


def _point(obj) -> tuple[float, float]:
    return float(obj.latitude), float(obj.longitude)


def _window(lane: Lane, *, start_of_day: datetime, now: datetime) -> tuple[datetime, datetime]:
    """When the operator may drive: the shift, within the depot's opening hours, not before
    now, and after the kept visits."""
    profile, depot = lane.driver.profile, lane.driver.depot
    opens, closes = profile.shift_start, profile.shift_end
    if depot is not None:
        opens, closes = max(opens, depot.opens_at), min(closes, depot.closes_at)
    day = start_of_day.date()
    zone = start_of_day.tzinfo
    start = max(datetime.combine(day, opens, tzinfo=zone), now)
    end = datetime.combine(day, closes, tzinfo=zone)
    for visit in lane.kept:
        done_at = visit.checked_out_at or visit.planned_departure or visit.checked_in_at
        if done_at is not None:
            start = max(start, done_at)
    return start, max(start, end)


class RouteBuilder:
    """Plans one organization's day over `lanes` and `candidates`, then writes it."""

    def __init__(self, *, organization, day: Date, lanes: list[Lane],
                 candidates: list[Candidate], now: datetime,
                 keep_dropped: bool = False) -> None:
        self.organization, self.day, self.now = organization, day, now
        self.lanes, self.candidates = lanes, candidates
        #: Keep a visit no van can take on its route (at the end, without times) rather than
        #: remove it: a re-plan of one route never drops what a manager sees on it.
        self.keep_dropped = keep_dropped
        self.settings = PlanningSettings.for_organization(organization.pk)
        self.start_of_day = day_start(organization, day)
        self.packs = pack_table(organization.pk)
        self.unassigned: list[Unassigned] = []
        self.touched: set = set()

    # -- the problem ------------------------------------------------------------------------

    def build(self) -> tuple[solver.Problem, list[int], list[Candidate]]:
        """The solver's problem; the lanes it drives (indices into `self.lanes`) and the
        candidates it routes."""
        settings_ = self.settings
        points: list[tuple[float, float]] = []

        def add(point) -> int:
            points.append(point)
            return len(points) - 1

        windows = {}
        vehicles, lane_numbers = [], []
        for number, lane in enumerate(self.lanes):
            depot = lane.driver.depot
            start, end = _window(lane, start_of_day=self.start_of_day, now=self.now)
            windows[number] = (start, end)
            if depot is None:
                continue
            last = next((v.machine for v in reversed(lane.kept) if _located(v.machine)), None)
            start_point = add(_point(last if last is not None else depot))
            end_point = add(_point(depot))
            capacity = (lane.driver.profile.vehicle_capacity_kg * 1000
                        - self._kept_load(lane))
            vehicles.append(solver.Vehicle(
                number, start_point, end_point, max(0, capacity),
                self._seconds(start), self._seconds(end)))
            lane_numbers.append(number)
        latest_end = max((end for _start, end in windows.values()), default=self.start_of_day)
        self.stocks = stocks_of([c.machine.pk for c in self.candidates],
                                organization_id=self.organization.pk, at=self.now)
        vehicle_of_lane = {lane: index for index, lane in enumerate(lane_numbers)}
        routed, stops = [], []
        service = settings_.service_minutes * 60
        for candidate in self.candidates:
            if candidate.lane is not None and candidate.lane not in vehicle_of_lane:
                self._drop(candidate, NO_DEPOT if self.lanes else NO_OPERATOR)
                continue
            if not vehicles:
                self._drop(candidate, NO_DEPOT if self.lanes else NO_OPERATOR)
                continue
            # The load is planned for the latest arrival the day allows: levels only fall,
            # so the van's load at any earlier arrival is no heavier.
            demand = pick_list.load_grams(pick_list.plan_lines(
                self.stocks.get(candidate.machine.pk, ()), arrival=latest_end))
            stops.append(solver.Stop(
                len(routed), add(_point(candidate.machine)), demand, service,
                priority(candidate.reasons),
                None if candidate.lane is None else vehicle_of_lane[candidate.lane]))
            routed.append(candidate)
        for lane in self.lanes:  # the kept part's distance is read from the same matrix
            lane.kept_points = [add(_point(v.machine)) for v in lane.kept
                                if _located(v.machine)]
            lane.depot_point = add(_point(lane.driver.depot)) if lane.driver.depot else None
        source = distance_source(road_factor=float(settings_.road_factor),
                                 speed_kmh=float(settings_.average_speed_kmh))
        distance, duration = source.matrices(points)
        self.distance = distance
        return solver.Problem(distance, duration, vehicles, stops), lane_numbers, routed

    def _seconds(self, moment: datetime) -> int:
        return int((moment - self.start_of_day).total_seconds())

    def _at(self, seconds: int) -> datetime:
        return self.start_of_day + timedelta(seconds=seconds)

    def _kept_load(self, lane: Lane) -> int:
        total = 0
        for visit in lane.kept:
            for line in visit.lines.all():
                key = (("ingredient", line.ingredient_id) if line.bunker_id
                       else ("product", line.product_id))
                total += pick_list.line_weight_grams(
                    is_ingredient=bool(line.bunker_id), quantity=line.planned_quantity,
                    pack=self.packs.get(key, pick_list.LOOSE))
        return total

    def _drop(self, candidate: Candidate, why: str) -> None:
        self.unassigned.append(Unassigned(candidate.machine, candidate.reasons, why))

    # -- solve and write --------------------------------------------------------------------

    def run(self) -> list[Route]:
        """Solve and write; the routes written (created or changed)."""
        problem, lane_numbers, routed = self.build()
        time_limit = min(float(planning_option("SOLVER_TIME_LIMIT_S")),
                         0.5 + 0.02 * len(problem.stops))
        solution = solver.solve(problem, time_limit_s=time_limit)
        dropped = {}
        for stop, why in solution.unassigned:
            candidate = routed[stop.key]
            dropped[id(candidate)] = candidate
            self._drop(candidate, why)
        routes = []
        for vehicle_route in solution.routes:
            lane = self.lanes[vehicle_route.vehicle.key]
            leftovers = [c for c in dropped.values()
                         if c.visit is not None and c.visit.route_id == getattr(
                             lane.route, "pk", None) and (self.keep_dropped or c.visit.pinned)]
            route = self._write(lane, vehicle_route, routed, leftovers)
            if route is not None:
                routes.append(route)
        kept_ids = {c.visit.pk for c in dropped.values() if c.visit is not None
                    and (self.keep_dropped or c.visit.pinned)}
        gone = [c.visit.pk for c in dropped.values() if c.visit is not None
                and c.visit.pk not in kept_ids]
        if gone:
            Visit.objects.filter(pk__in=gone).delete()
        return routes

    def _write(self, lane: Lane, vehicle_route: solver.VehicleRoute, routed: list[Candidate],
               leftovers: list[Candidate]) -> Route | None:
        route = lane.route
        if route is None:
            if not vehicle_route.arrivals:
                return None
            route = Route(organization=self.organization, operator=lane.driver.user,
                          date=self.day, version=0)
        route.depot = lane.driver.depot
        visits_new, visits_changed, lines = [], [], []
        sequence = 0
        for visit in lane.kept:
            sequence += 1
            if visit.sequence != sequence:
                visit.sequence, visit.updated_at = sequence, self.now
                visits_changed.append(visit)
        load = self._kept_load(lane)
        if route._state.adding:
            route.save()
        for arrival in vehicle_route.arrivals:
            candidate = routed[arrival.stop.key]
            sequence += 1
            visit = candidate.visit or Visit(route=route, machine=candidate.machine)
            visit.route, visit.sequence = route, sequence
            visit.status = VisitStatus.PLANNED
            visit.reasons = list(candidate.reasons)
            visit.planned_arrival = self._at(arrival.arrival_s)
            visit.planned_departure = self._at(arrival.departure_s)
            visit.updated_at = self.now
            (visits_new if visit._state.adding else visits_changed).append(visit)
            planned = pick_list.plan_lines(self.stocks.get(candidate.machine.pk, ()),
                                           arrival=visit.planned_arrival)
            load += pick_list.load_grams(planned)
            lines.append((visit, planned))
        for candidate in leftovers:  # kept on the route, after the planned stops, untimed
            sequence += 1
            visit = candidate.visit
            visit.route, visit.sequence = route, sequence
            visit.planned_arrival = visit.planned_departure = None
            visit.updated_at = self.now
            visits_changed.append(visit)
        Visit.objects.bulk_create(visits_new)
        Visit.objects.bulk_update(visits_changed, ["route", "sequence", "status", "reasons",
                                                   "planned_arrival", "planned_departure",
                                                   "updated_at"])
        replanned = [visit.pk for visit, _planned in lines]
        VisitLine.objects.filter(visit_id__in=replanned).delete()
        VisitLine.objects.bulk_create([
            VisitLine(visit=visit, bunker_id=line.stock.bunker_id, slot_code=line.stock.slot_code,
                      ingredient_id=line.stock.ingredient_id, product_id=line.stock.product_id,
                      planned_quantity=line.planned_quantity, packs=line.packs)
            for visit, planned in lines for line in planned])
        route.distance_m = self._kept_distance(lane) + vehicle_route.distance_m
        route.load_grams = load
        route.starts_at = self._at(vehicle_route.start_s) if vehicle_route.arrivals or lane.kept \
            else None
        route.ends_at = self._at(vehicle_route.end_s) if vehicle_route.arrivals else (
            route.starts_at)
        if lane.kept:
            route.starts_at = lane.kept[0].checked_in_at or lane.kept[0].planned_arrival
        route.planned_at = self.now
        route.version += 1
        route.save()
        return route

    def _kept_distance(self, lane: Lane) -> int:
        """From the depot through the kept visits, in their order."""
        path = [lane.depot_point, *lane.kept_points] if lane.depot_point is not None else []
        return sum(int(self.distance[a][b]) for a, b in zip(path, path[1:], strict=False))
