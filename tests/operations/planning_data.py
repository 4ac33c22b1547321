"""A small fleet to plan: a depot in Tashkent, operators with vans, machines around it with
forecasts that run out on the planned day (or not), for the planner's tests."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from machines.models import Role
from operations.models import Depot, Forecast, ForecastMethod, OperatorProfile
from tests.factories import make_bunker, make_machine, make_user

#: The evening (20:00 in Tashkent, UTC+5) before DAY, near the real clock: machines the
#: tests create now are not overdue a cleaning yet. Today's UTC date, as the tests' own
#: clocks take it (`date.today()` is the process's zone, Tashkent under Django, a day ahead
#: of UTC from 19:00 UTC: the nightly plan's tests then planned a day nothing ran out on).
NOW = datetime.combine(datetime.now(UTC).date(), time(15, 0), tzinfo=UTC)
DAY = NOW.date() + timedelta(days=1)
DEPOT_AT = (41.2995, 69.2401)


def make_depot(organization, *, name: str = "Main depot", at=DEPOT_AT, **fields) -> Depot:
    return Depot.objects.create(organization=organization, name=name, latitude=at[0],
                                longitude=at[1], **fields)


def make_driver(organization, user, *, depot=None, capacity_kg: int = 400,
                shift=(time(8, 0), time(17, 0)), **fields) -> OperatorProfile:
    return OperatorProfile.objects.create(organization=organization, user=user,
                                          start_depot=depot, vehicle_capacity_kg=capacity_kg,
                                          shift_start=shift[0], shift_end=shift[1], **fields)


def make_operator(organization, username: str):
    return make_user(username, organization=organization, role=Role.OPERATOR)


def forecast_bunker(bunker, *, runs_out_at: datetime | None, rate: float = 50.0,
                    computed_at: datetime = NOW) -> Forecast:
    return Forecast.objects.update_or_create(
        bunker=bunker, defaults={
            "machine": bunker.machine, "level": bunker.current_level_grams,
            "rate_per_hour": rate, "runs_out_at": runs_out_at, "earliest_at": runs_out_at,
            "method": ForecastMethod.RECENT, "samples": 100, "computed_at": computed_at})[0]


def running_out(organization, name: str, *, offset=(0.0, 0.0), level: int = 300,
                capacity: int = 2000, runs_out_at: datetime | None = None, **fields):
    """A machine with one coffee bunker that runs out on DAY (unless `runs_out_at` says
    otherwise), `offset` degrees from the depot."""
    machine = make_machine(organization, name=name,
                           latitude=f"{DEPOT_AT[0] + offset[0]:.6f}",
                           longitude=f"{DEPOT_AT[1] + offset[1]:.6f}", **fields)
    bunker = make_bunker(machine, "Coffee", capacity=capacity, level=level)
    forecast_bunker(bunker, runs_out_at=runs_out_at or NOW + timedelta(hours=20))
    return machine
