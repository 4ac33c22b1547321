"""operations.solver: every route respects its van's capacity and its working window, on
seeded random instances; stops that cannot fit are reported, not lost."""

from __future__ import annotations

import random

import pytest

from operations.distances import HaversineSource
from operations.solver import CAPACITY, TIME, Problem, Stop, Vehicle, solve

CENTER = (41.2995, 69.2401)


def random_problem(seed: int) -> Problem:
    rng = random.Random(seed)
    depots = [(CENTER[0] + rng.uniform(-0.05, 0.05), CENTER[1] + rng.uniform(-0.05, 0.05))
              for _ in range(rng.randint(1, 2))]
    machines = [(CENTER[0] + rng.uniform(-0.1, 0.1), CENTER[1] + rng.uniform(-0.1, 0.1))
                for _ in range(rng.randint(5, 40))]
    points = depots + machines
    distance, duration = HaversineSource(1.35, 30).matrices(points)
    vehicles = []
    for number in range(rng.randint(1, 4)):
        depot = rng.randrange(len(depots))
        start = rng.randint(6, 10) * 3600
        vehicles.append(Vehicle(number, depot, depot, rng.randint(5, 60) * 1000, start,
                                start + rng.randint(2, 9) * 3600))
    stops = [Stop(index, len(depots) + index, rng.randint(0, 8000), rng.choice([600, 900]),
                  rng.randint(1, 8)) for index in range(len(machines))]
    return Problem(distance, duration, vehicles, stops)


@pytest.mark.parametrize("seed", range(8))
def test_every_route_respects_capacity_and_its_window(seed):
    problem = random_problem(seed)
    solution = solve(problem, time_limit_s=0.5)
    served = [a.stop.key for route in solution.routes for a in route.arrivals]
    left = [stop.key for stop, _why in solution.unassigned]
    assert sorted(served + left) == sorted(stop.key for stop in problem.stops)
    for route in solution.routes:
        vehicle = route.vehicle
        assert sum(a.stop.demand_grams for a in route.arrivals) <= vehicle.capacity_grams
        assert route.load_grams <= vehicle.capacity_grams
        assert vehicle.start_s <= route.start_s <= route.end_s <= vehicle.end_s
        clock, here = route.start_s, vehicle.start
        for arrival in route.arrivals:
            # Driving from the previous stop (after its service) takes the matrix's time.
            assert arrival.arrival_s >= clock + problem.duration_s[here][arrival.stop.point]
            assert arrival.departure_s == arrival.arrival_s + arrival.stop.service_s
            clock, here = arrival.departure_s, arrival.stop.point
        assert route.end_s >= clock + problem.duration_s[here][vehicle.end]


def test_a_stop_heavier_than_every_van_is_reported_for_capacity():
    problem = random_problem(1)
    heavy = Stop("heavy", problem.stops[0].point, 10**9, 600)
    solution = solve(Problem(problem.distance_m, problem.duration_s, problem.vehicles,
                             [*problem.stops, heavy]), time_limit_s=0.5)
    assert (heavy, CAPACITY) in solution.unassigned


def test_stops_past_the_end_of_every_shift_are_reported_for_time():
    distance, duration = HaversineSource(1.35, 30).matrices([CENTER, (41.30, 69.25)])
    vehicle = Vehicle("van", 0, 0, 10**6, 8 * 3600, 8 * 3600 + 1200)  # 20 minutes
    stops = [Stop(n, 1, 100, 900) for n in range(3)]  # 15 minutes each
    solution = solve(Problem(distance, duration, [vehicle], stops), time_limit_s=0.3)
    assert len(solution.routes[0].arrivals) <= 1
    assert {why for _stop, why in solution.unassigned} == {TIME}


def test_a_pinned_stop_goes_only_on_its_vehicle():
    problem = random_problem(3)
    vehicles = [Vehicle(n, 0, 0, 10**9, 8 * 3600, 18 * 3600) for n in range(3)]
    stops = [Stop(s.key, s.point, s.demand_grams, s.service_s, s.priority,
                  vehicle=2 if s.key == 0 else None) for s in problem.stops]
    solution = solve(Problem(problem.distance_m, problem.duration_s, vehicles, stops),
                     time_limit_s=0.5)
    on = {a.stop.key: number for number, route in enumerate(solution.routes)
          for a in route.arrivals}
    assert on[0] == 2


def test_no_vehicle_leaves_every_stop_unassigned():
    problem = random_problem(2)
    solution = solve(Problem(problem.distance_m, problem.duration_s, [], problem.stops))
    assert len(solution.unassigned) == len(problem.stops)
