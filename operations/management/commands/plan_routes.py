"""`python manage.py plan_routes [--date YYYY-MM-DD] [--organization ID] [--replan]`: plan a
day's routes for every organization (or one), with a summary per organization: routes,
stops, kilometres, load, and the machines left out with why."""

from __future__ import annotations

import time
from datetime import date as Date
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from machines.models import Organization
from operations.models import Route
from operations.planning import (
    OPEN_ROUTE_STATUSES,
    local_today,
    plan_organization_day,
    replan_route,
)


class Command(BaseCommand):
    help = ("Plan the routes of a day (default: tomorrow in each organization's time zone) "
            "for every organization, or one; --replan re-orders the day's existing routes "
            "only (nothing added or removed).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--date", help="YYYY-MM-DD (default: tomorrow, local)")
        parser.add_argument("--organization", help="an organization's id or slug")
        parser.add_argument("--replan", action="store_true",
                            help="re-order each existing open route of the day, keeping its "
                                 "done and checked-in visits")

    def handle(self, *args, **options) -> None:
        day = self._date(options["date"])
        organizations = self._organizations(options["organization"])
        for organization in organizations:
            target = day or local_today(organization) + timedelta(days=1)
            if target < local_today(organization):
                raise CommandError(f"--date {target} has passed in {organization}")
            started = time.monotonic()
            self.stdout.write(f"{organization.name}: planning {target}...")
            if options["replan"]:
                self._replan(organization, target)
            else:
                self._plan(organization, target)
            self.stdout.write(f"  done in {time.monotonic() - started:.1f} s")

    def _plan(self, organization, day: Date) -> None:
        plan = plan_organization_day(organization=organization, date=day)
        for route in plan.routes:
            self.stdout.write(
                f"  {route.operator.get_username()}: {len(route.visits.all())} stops, "
                f"{route.distance_m / 1000:.1f} km, load {route.load_grams / 1000:.1f} kg")
        self.stdout.write(self.style.SUCCESS(
            f"  {len(plan.routes)} routes, {plan.stops} stops, "
            f"{plan.distance_m / 1000:.1f} km, load {plan.load_grams / 1000:.1f} kg, "
            f"{len(plan.unassigned)} unassigned, {len(plan.unroutable)} without coordinates"))
        for item in plan.unassigned:
            self.stdout.write(self.style.WARNING(
                f"  unassigned: {item.machine.name} ({', '.join(item.reasons)}): {item.why}"))
        for machine in plan.unroutable:
            self.stdout.write(self.style.WARNING(
                f"  no coordinates, cannot be routed: {machine.name} ({machine.serial_number})"))

    def _replan(self, organization, day: Date) -> None:
        routes = list(Route.objects.filter(organization=organization, date=day,
                                           status__in=OPEN_ROUTE_STATUSES)
                      .select_related("organization", "operator"))
        if not routes:
            self.stdout.write("  no open route that day (plan it without --replan)")
        for route in routes:
            route = replan_route(route)
            self.stdout.write(
                f"  {route.operator.get_username()}: {len(route.visits.all())} stops, "
                f"{route.distance_m / 1000:.1f} km, load {route.load_grams / 1000:.1f} kg "
                f"(version {route.version})")

    @staticmethod
    def _date(value: str | None) -> Date | None:
        if value is None:
            return None
        try:
            return Date.fromisoformat(value)
        except ValueError:
            raise CommandError(f"--date must be YYYY-MM-DD, not {value!r}") from None

    @staticmethod
    def _organizations(value: str | None) -> list[Organization]:
        if value is None:
            return list(Organization.objects.order_by("name"))
        found = Organization.objects.filter(slug=value).first()
        if found is None:
            try:
                found = Organization.objects.filter(pk=value).first()
            except ValidationError:
                found = None
        if found is None:
            raise CommandError(f"no organization {value!r} (give its id or slug)")
        return [found]

