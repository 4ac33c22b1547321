"""Field operations: run-out forecasts, depots and vehicles, planned routes with their pick
lists, and the visits operators make.

Quantities are integers: grams for a bunker's ingredient, units (pieces) for a slot's
product. A route belongs to one operator on one date; its visits are ordered (`sequence`)
and each visit carries the lines to load and to fill (`VisitLine`: planned from the forecast
at the planned arrival, filled as the operator records it).
"""

from __future__ import annotations

from datetime import time

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from machines.models import Bunker, Ingredient, Machine, Organization
from sales.models import CashCollection, Product
from vendhub.models import BaseModel


class PlanningSettings(BaseModel):
    """An organization's planning knobs (one row per organization; defaults apply without
    one: `PlanningSettings.for_organization`)."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE,
                                        related_name="planning_settings")
    horizon_hours = models.PositiveSmallIntegerField(
        _("horizon (h)"), default=36, validators=[MinValueValidator(1), MaxValueValidator(24 * 14)],
        help_text=_("A machine is visited when something of it runs out within this many "
                    "hours of the planned day's start (its next chance is the day after)."),
    )
    service_minutes = models.PositiveSmallIntegerField(
        _("service time per machine (min)"), default=15,
        validators=[MinValueValidator(1), MaxValueValidator(240)],
    )
    road_factor = models.DecimalField(
        _("road factor"), max_digits=4, decimal_places=2, default=1.35,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
        help_text=_("Road distance over straight-line distance (haversine)."),
    )
    average_speed_kmh = models.PositiveSmallIntegerField(
        _("average speed (km/h)"), default=30, validators=[MinValueValidator(1)],
    )
    cleaning_interval_days = models.PositiveSmallIntegerField(
        _("cleaning interval (days)"), default=7, validators=[MinValueValidator(1)],
    )

    class Meta:
        verbose_name = _("planning settings")
        verbose_name_plural = _("planning settings")

    def __str__(self) -> str:
        return str(self.organization)

    @classmethod
    def for_organization(cls, organization_id) -> PlanningSettings:
        """The organization's settings, or unsaved defaults when it has none."""
        found = cls.objects.filter(organization_id=organization_id).first()
        return found or cls(organization_id=organization_id)


class Depot(BaseModel):
    """A warehouse where routes start and end and vans are loaded."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="depots")
    name = models.CharField(_("name"), max_length=200)
    address = models.CharField(_("address"), max_length=300, blank=True)
    latitude = models.DecimalField(_("latitude"), max_digits=9, decimal_places=6,
                                   validators=[MinValueValidator(-90), MaxValueValidator(90)])
    longitude = models.DecimalField(_("longitude"), max_digits=9, decimal_places=6,
                                    validators=[MinValueValidator(-180), MaxValueValidator(180)])
    opens_at = models.TimeField(_("opens at"), default=time(7, 0))
    closes_at = models.TimeField(_("closes at"), default=time(20, 0))

    class Meta:
        ordering = ["name"]
        verbose_name = _("depot")
        verbose_name_plural = _("depots")

    def __str__(self) -> str:
        return self.name


class OperatorProfile(BaseModel):
    """How an operator of an organization works: their vehicle, shift and start depot."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="operator_profiles")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="operator_profiles", verbose_name=_("operator"))
    vehicle_capacity_kg = models.PositiveIntegerField(
        _("vehicle capacity (kg)"), default=400, validators=[MinValueValidator(1)],
    )
    shift_start = models.TimeField(_("shift start"), default=time(8, 0))
    shift_end = models.TimeField(_("shift end"), default=time(17, 0))
    start_depot = models.ForeignKey(Depot, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+", verbose_name=_("start depot"))
    active = models.BooleanField(_("plans routes for them"), default=True)

    class Meta:
        ordering = ["organization", "user__username"]
        constraints = [models.UniqueConstraint(fields=["organization", "user"],
                                               name="one_operator_profile_per_organization")]
        verbose_name = _("operator profile")
        verbose_name_plural = _("operator profiles")

    def __str__(self) -> str:
        return f"{self.user} @ {self.organization}"


class PackSize(BaseModel):
    """What the warehouse issues: an ingredient in packs of `quantity` grams, or a product
    in packs (crates) of `quantity` units weighing `weight_grams` each pack."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="pack_sizes")
    ingredient = models.ForeignKey(Ingredient, on_delete=models.CASCADE, null=True, blank=True,
                                   related_name="+")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, null=True, blank=True,
                                related_name="+")
    quantity = models.PositiveIntegerField(_("pack quantity"), validators=[MinValueValidator(1)],
                                           help_text=_("Grams of an ingredient, units of a "
                                                       "product."))
    weight_grams = models.PositiveIntegerField(_("pack weight (g)"), default=0,
                                               help_text=_("For a product's pack; an "
                                                           "ingredient's pack weighs its "
                                                           "quantity."))

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(ingredient__isnull=False, product__isnull=True)
                | Q(ingredient__isnull=True, product__isnull=False),
                name="pack_size_of_an_ingredient_or_a_product"),
            models.UniqueConstraint(fields=["organization", "ingredient"],
                                    condition=Q(ingredient__isnull=False),
                                    name="one_pack_size_per_ingredient"),
            models.UniqueConstraint(fields=["organization", "product"],
                                    condition=Q(product__isnull=False),
                                    name="one_pack_size_per_product"),
        ]
        verbose_name = _("pack size")
        verbose_name_plural = _("pack sizes")

    def __str__(self) -> str:
        return f"{self.ingredient or self.product} × {self.quantity}"


class SlotStock(BaseModel):
    """The units left in one selection (spiral slot) of a machine with a planogram: vends
    take one each, a visit's fill sets it."""

    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="slot_stocks")
    code = models.CharField(_("selection code"), max_length=16)
    level = models.PositiveIntegerField(_("units left"), default=0)
    counted_at = models.DateTimeField(_("last filled or counted"), null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["machine", "code"],
                                               name="one_slot_stock_per_selection")]
        verbose_name = _("slot stock")
        verbose_name_plural = _("slot stocks")

    def __str__(self) -> str:
        return f"{self.machine} {self.code}: {self.level}"


class ForecastMethod(models.TextChoices):
    RECENT = "recent", _("Recent rate")
    PROFILE = "profile", _("Hour-of-day profile")
    NONE = "none", _("Not enough history")


class Forecast(BaseModel):
    """When one bunker (grams) or one slot (units) of a machine runs out, as last computed
    from its own history."""

    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="forecasts")
    bunker = models.OneToOneField(Bunker, on_delete=models.CASCADE, null=True, blank=True,
                                  related_name="forecast")
    slot_code = models.CharField(_("selection code"), max_length=16, blank=True)
    level = models.PositiveIntegerField(_("level at computation"))
    rate_per_hour = models.FloatField(_("consumption per hour"), default=0.0)
    runs_out_at = models.DateTimeField(_("runs out at"), null=True, blank=True, db_index=True)
    #: A range that holds the run-out time with the stated confidence (None: unbounded).
    earliest_at = models.DateTimeField(_("earliest run-out"), null=True, blank=True)
    latest_at = models.DateTimeField(_("latest run-out"), null=True, blank=True)
    method = models.CharField(_("method"), max_length=8, choices=ForecastMethod.choices,
                              default=ForecastMethod.NONE)
    samples = models.PositiveIntegerField(_("history samples"), default=0)
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(bunker__isnull=False, slot_code="")
                                   | Q(bunker__isnull=True) & ~Q(slot_code=""),
                                   name="forecast_of_a_bunker_or_a_slot"),
            models.UniqueConstraint(fields=["machine", "slot_code"], condition=~Q(slot_code=""),
                                    name="one_forecast_per_slot"),
        ]
        verbose_name = _("forecast")
        verbose_name_plural = _("forecasts")

    def __str__(self) -> str:
        return f"{self.machine}: {self.bunker or self.slot_code} → {self.runs_out_at}"


class RouteStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    IN_PROGRESS = "in_progress", _("In progress")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class Route(BaseModel):
    """One operator's visits on one date, in order, from and back to a depot."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="routes")
    operator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                 related_name="routes", verbose_name=_("operator"))
    date = models.DateField(_("date"))
    depot = models.ForeignKey(Depot, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="routes")
    status = models.CharField(_("status"), max_length=16, choices=RouteStatus.choices,
                              default=RouteStatus.PLANNED)
    starts_at = models.DateTimeField(_("planned start"), null=True, blank=True)
    ends_at = models.DateTimeField(_("planned end"), null=True, blank=True)
    distance_m = models.PositiveIntegerField(_("planned distance (m)"), default=0)
    load_grams = models.PositiveIntegerField(_("planned load (g)"), default=0)
    planned_at = models.DateTimeField(_("planned at"), null=True, blank=True)
    #: Grows with every (re-)plan: a client holding an older version refetches.
    version = models.PositiveIntegerField(_("plan version"), default=1)

    class Meta:
        ordering = ["date", "operator__username"]
        constraints = [models.UniqueConstraint(fields=["organization", "operator", "date"],
                                               name="one_route_per_operator_and_day")]
        verbose_name = _("route")
        verbose_name_plural = _("routes")

    def __str__(self) -> str:
        return f"{self.operator} {self.date}"


class VisitStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    CHECKED_IN = "checked_in", _("At the machine")
    DONE = "done", _("Done")
    SKIPPED = "skipped", _("Skipped")


#: A re-plan keeps these where they are (done, or the operator is at the machine).
KEPT_VISIT_STATUSES = (VisitStatus.CHECKED_IN, VisitStatus.DONE)


class Visit(BaseModel):
    route = models.ForeignKey(Route, on_delete=models.CASCADE, related_name="visits")
    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="visits")
    sequence = models.PositiveSmallIntegerField(_("stop number"))
    status = models.CharField(_("status"), max_length=16, choices=VisitStatus.choices,
                              default=VisitStatus.PLANNED)
    #: Why the machine is on the route: keys such as "runs_out", "critical_error",
    #: "cash", "cleaning", "manual" (operations.rules).
    reasons = models.JSONField(_("reasons"), default=list, blank=True)
    #: A manager placed it (moved it to this operator or day): re-plans keep it on this route.
    pinned = models.BooleanField(_("placed by a manager"), default=False)
    planned_arrival = models.DateTimeField(_("planned arrival"), null=True, blank=True)
    planned_departure = models.DateTimeField(_("planned departure"), null=True, blank=True)
    checked_in_at = models.DateTimeField(_("checked in"), null=True, blank=True)
    checked_out_at = models.DateTimeField(_("checked out"), null=True, blank=True)
    check_in_latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True,
                                            blank=True)
    check_in_longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True,
                                             blank=True)
    cash_collection = models.ForeignKey(CashCollection, on_delete=models.SET_NULL, null=True,
                                        blank=True, related_name="+")
    note = models.TextField(_("note"), blank=True, max_length=2000)
    photo = models.FileField(_("photo"), upload_to="visits/%Y/%m/", blank=True)

    class Meta:
        ordering = ["route", "sequence"]
        constraints = [models.UniqueConstraint(fields=["route", "machine"],
                                               name="one_visit_per_machine_and_route")]
        verbose_name = _("visit")
        verbose_name_plural = _("visits")

    def __str__(self) -> str:
        return f"{self.route} #{self.sequence} {self.machine}"


class VisitLine(BaseModel):
    """What to bring to and fill into one bunker or slot at a visit: planned (the pick
    list) and, once recorded, filled."""

    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="lines")
    bunker = models.ForeignKey(Bunker, on_delete=models.CASCADE, null=True, blank=True,
                               related_name="+")
    slot_code = models.CharField(_("selection code"), max_length=16, blank=True)
    ingredient = models.ForeignKey(Ingredient, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, null=True, blank=True,
                                related_name="+")
    #: Grams (a bunker's ingredient) or units (a slot's product) to load: up to par at the
    #: planned arrival, rounded up to whole packs.
    planned_quantity = models.PositiveIntegerField(_("planned quantity"), default=0)
    packs = models.PositiveIntegerField(_("packs"), default=0)
    filled_quantity = models.PositiveIntegerField(_("filled quantity"), null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(
            condition=Q(bunker__isnull=False, slot_code="")
            | Q(bunker__isnull=True) & ~Q(slot_code=""),
            name="visit_line_of_a_bunker_or_a_slot")]
        verbose_name = _("visit line")
        verbose_name_plural = _("visit lines")

    @property
    def unit(self) -> str:
        return "g" if self.bunker_id else "pcs"


class VisitAction(models.Model):
    """An operator's action on a visit as the phone sent it, kept by the phone's own id so
    that a queue replayed after a dropped connection applies each action once."""

    client_id = models.UUIDField(primary_key=True)
    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="actions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                             related_name="+")
    kind = models.CharField(_("kind"), max_length=16)
    payload = models.JSONField(_("payload"), default=dict)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)

    class Meta:
        verbose_name = _("visit action")
        verbose_name_plural = _("visit actions")

    def __str__(self) -> str:
        return f"{self.kind} {self.client_id}"
