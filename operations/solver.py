"""The vehicle-routing solver: which van visits which stop, in which order, at what time.

A thin layer over OR-Tools' routing library on plain values (no Django): several vehicles,
each from its own start (a depot, or where a re-planned route stands) back to its depot,
with a capacity in grams of load, a working window (shift within the depot's opening
hours), a service time per stop and travel times from a `DistanceSource`'s matrices. Stops
that fit no van (too heavy, or past every shift's end) are dropped with a penalty (their
priority) and reported, never silently lost; a stop pinned to a vehicle may only go on it.

Times are whole seconds from an origin the caller chooses (the planned day's local
midnight).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

#: Cost of leaving a stop of priority 1 unvisited, in metres of driving: far more than any
#: day's route, so a stop is dropped only when it cannot fit.
DROP_PENALTY_M = 10_000_000

CAPACITY = "capacity"
TIME = "time"


@dataclass(frozen=True)
class Vehicle:
    key: object
    start: int  # index into the problem's points
    end: int
    capacity_grams: int
    start_s: int  # the window in which it may drive, seconds from the origin
    end_s: int


@dataclass(frozen=True)
class Stop:
    key: object
    point: int  # index into the problem's points
    demand_grams: int
    service_s: int
    priority: int = 1
    vehicle: int | None = None  # pinned: the index of the only vehicle it may go on


@dataclass(frozen=True)
class Problem:
    distance_m: Sequence[Sequence[int]]  # between the problem's points
    duration_s: Sequence[Sequence[int]]
    vehicles: Sequence[Vehicle]
    stops: Sequence[Stop]


@dataclass(frozen=True)
class Arrival:
    stop: Stop
    arrival_s: int
    departure_s: int


@dataclass
class VehicleRoute:
    vehicle: Vehicle
    arrivals: list[Arrival] = field(default_factory=list)
    distance_m: int = 0
    load_grams: int = 0
    start_s: int = 0
    end_s: int = 0


@dataclass
class Solution:
    routes: list[VehicleRoute]
    #: Stops no vehicle takes, with why: CAPACITY (heavier than what any van has left) or
    #: TIME (no van has the time left in its window).
    unassigned: list[tuple[Stop, str]]


def solve(problem: Problem, *, time_limit_s: float = 5.0) -> Solution:
    """Assign and order `problem.stops`, within `time_limit_s` of search."""
    vehicles, stops = list(problem.vehicles), list(problem.stops)
    if not vehicles:
        return Solution([], [(stop, TIME) for stop in stops])
    if not stops:
        return Solution([VehicleRoute(vehicle, start_s=vehicle.start_s, end_s=vehicle.start_s)
                         for vehicle in vehicles], [])
    # Nodes: each vehicle's start and end, then the stops (a node is one visit; several
    # nodes may share a point).
    node_points = ([v.start for v in vehicles] + [v.end for v in vehicles]
                   + [s.point for s in stops])
    first_stop = 2 * len(vehicles)
    service = [0] * first_stop + [s.service_s for s in stops]
    demand = [0] * first_stop + [s.demand_grams for s in stops]
    manager = pywrapcp.RoutingIndexManager(
        len(node_points), len(vehicles), list(range(len(vehicles))),
        list(range(len(vehicles), first_stop)))
    routing = pywrapcp.RoutingModel(manager)

    distance = [[int(problem.distance_m[a][b]) for b in node_points] for a in node_points]
    # Leaving a node takes its service time first, then the drive.
    duration = [[int(problem.duration_s[a][b]) + service[i] for b in node_points]
                for i, a in enumerate(node_points)]
    distance_cb = routing.RegisterTransitMatrix(distance)
    time_cb = routing.RegisterTransitMatrix(duration)
    demand_cb = routing.RegisterUnaryTransitVector(demand)
    routing.SetArcCostEvaluatorOfAllVehicles(distance_cb)

    horizon = max(v.end_s for v in vehicles)
    routing.AddDimension(time_cb, horizon, horizon, False, TIME)  # waiting allowed
    time_dimension = routing.GetDimensionOrDie(TIME)
    for number, vehicle in enumerate(vehicles):
        time_dimension.CumulVar(routing.Start(number)).SetRange(vehicle.start_s, vehicle.end_s)
        time_dimension.CumulVar(routing.End(number)).SetRange(vehicle.start_s, vehicle.end_s)
        routing.AddVariableMinimizedByFinalizer(time_dimension.CumulVar(routing.End(number)))
    routing.AddDimensionWithVehicleCapacity(
        demand_cb, 0, [max(0, v.capacity_grams) for v in vehicles], True, CAPACITY)

    for offset, stop in enumerate(stops):
        index = manager.NodeToIndex(first_stop + offset)
        routing.AddDisjunction([index], DROP_PENALTY_M * max(1, stop.priority))
        if stop.vehicle is not None:
            routing.VehicleVar(index).SetValues([-1, stop.vehicle])

    parameters = pywrapcp.DefaultRoutingSearchParameters()
    parameters.first_solution_strategy = (
        routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC)
    parameters.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH)
    parameters.time_limit.FromMilliseconds(max(1, int(time_limit_s * 1000)))
    assignment = routing.SolveWithParameters(parameters)
    if assignment is None:  # no solution at all (should not happen: every stop may drop)
        return Solution([VehicleRoute(v, start_s=v.start_s, end_s=v.start_s) for v in vehicles],
                        [(stop, TIME) for stop in stops])

    routes, served = [], set()
    for number, vehicle in enumerate(vehicles):
        route = VehicleRoute(vehicle)
        index = routing.Start(number)
        route.start_s = assignment.Value(time_dimension.CumulVar(index))
        previous = node_points[manager.IndexToNode(index)]
        index = assignment.Value(routing.NextVar(index))
        while True:
            node = manager.IndexToNode(index)
            point = node_points[node]
            route.distance_m += int(problem.distance_m[previous][point])
            previous = point
            arrival = assignment.Value(time_dimension.CumulVar(index))
            if routing.IsEnd(index):
                route.end_s = arrival
                break
            stop = stops[node - first_stop]
            served.add(node - first_stop)
            route.arrivals.append(Arrival(stop, arrival, arrival + stop.service_s))
            route.load_grams += stop.demand_grams
            index = assignment.Value(routing.NextVar(index))
        routes.append(route)
    return Solution(routes, _unassigned(stops, served, routes))


def _unassigned(stops: list[Stop], served: set[int], routes: list[VehicleRoute]
                ) -> list[tuple[Stop, str]]:
    """Dropped stops with a reason: CAPACITY when no van it may go on has that much room
    left, else TIME."""
    room = {id(r.vehicle): r.vehicle.capacity_grams - r.load_grams for r in routes}
    result = []
    for offset, stop in enumerate(stops):
        if offset in served:
            continue
        allowed = (routes if stop.vehicle is None else [routes[stop.vehicle]])
        fits = any(room[id(r.vehicle)] >= stop.demand_grams for r in allowed)
        result.append((stop, TIME if fits else CAPACITY))
    return result
