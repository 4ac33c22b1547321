"""Routes built row by row for the tests of the routes API, pages and admin (no planner):
what the planner would have written, so these tests read exactly what they set up."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from machines.models import Role
from operations.models import Depot, OperatorProfile, PackSize, Route, Visit, VisitLine
from sales.models import Product
from tests.factories import make_bunker, make_machine, make_user

DAY = date(2030, 6, 3)
START = datetime(2030, 6, 3, 4, 0, tzinfo=UTC)  # 09:00 in Tashkent


def make_route(organization, operator, machines, *, day: date = DAY, statuses=(),
               depot=None) -> Route:
    """A route of `operator` visiting `machines` in that order, 30 minutes apart, each
    visit with one planned line per bunker of the machine (half its capacity, packs of
    500 g)."""
    route = Route.objects.create(organization=organization, operator=operator, date=day,
                                 depot=depot,
                                 starts_at=START, ends_at=START + timedelta(hours=8),
                                 planned_at=START - timedelta(hours=12), distance_m=12000)
    for index, machine in enumerate(machines):
        arrival = START + timedelta(minutes=30 * (index + 1))
        status = statuses[index] if index < len(statuses) else "planned"
        visit = Visit.objects.create(route=route, machine=machine, sequence=index + 1,
                                     status=status, reasons=["runs_out"],
                                     planned_arrival=arrival,
                                     planned_departure=arrival + timedelta(minutes=15))
        for bunker in machine.bunkers.select_related("ingredient"):
            grams = bunker.capacity_grams // 2
            VisitLine.objects.create(visit=visit, bunker=bunker, ingredient=bunker.ingredient,
                                     planned_quantity=grams, packs=-(-grams // 500))
    return route


def make_profile(organization, user, **fields) -> OperatorProfile:
    return OperatorProfile.objects.create(organization=organization, user=user, **fields)


def acme_routes(personas, *, day: date = DAY) -> dict:
    """Two acme operators with profiles, each with a route of two machines that day; the
    rival's operator with a route of the rival's machine."""
    second = make_user("acme-operator-b", organization=personas.acme, role=Role.OPERATOR,
                       first_name="Bea", last_name="Second")
    machines = [personas.machine]
    for name, lat, lng in (("Chilonzor Cafe", "41.285000", "69.204000"),
                           ("Yunusobod Coffee", "41.365000", "69.287000"),
                           ("Sergeli Snack", "41.227000", "69.220000")):
        machine = make_machine(personas.acme, name=name, latitude=lat, longitude=lng)
        make_bunker(machine, "Coffee", capacity=1000, level=200)
        machines.append(machine)
    depot = Depot.objects.create(organization=personas.acme, name="Acme depot",
                                 latitude="41.311000", longitude="69.279000")
    make_profile(personas.acme, personas.operator, start_depot=depot)
    make_profile(personas.acme, second, start_depot=depot)
    rival_operator = make_user("rival-operator", organization=personas.rival,
                               role=Role.OPERATOR)
    make_profile(personas.rival, rival_operator)
    PackSize.objects.create(organization=personas.acme,
                            ingredient=personas.coffee.ingredient, quantity=500)
    return {
        "first": make_route(personas.acme, personas.operator, machines[:2], day=day,
                            depot=depot),
        "second": make_route(personas.acme, second, machines[2:], day=day, depot=depot),
        "rival": make_route(personas.rival, rival_operator, [personas.rival_machine], day=day),
        "second_operator": second, "depot": depot, "rival_operator": rival_operator,
        "machines": machines,
    }


def make_product_line(visit: Visit, product: Product, *, code: str, units: int,
                      packs: int) -> VisitLine:
    return VisitLine.objects.create(visit=visit, slot_code=code, product=product,
                                    planned_quantity=units, packs=packs)
