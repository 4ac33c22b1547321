"""The fleet: organizations, their people, machines, bunkers, ingredients and operator tasks."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from notifications import messages
from vendhub.models import BaseModel


def default_time_zone() -> str:
    return settings.TIME_ZONE


def validate_time_zone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(_("%(name)s is not a time zone (e.g. Asia/Tashkent)"),
                              params={"name": name}) from None


class Organization(BaseModel):
    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), unique=True)
    # Where the fleet is: the dashboard and the admin show its people times in it (a
    # fleet in Samarkand and one in Moscow share a server, not a clock).
    time_zone = models.CharField(
        _("time zone"), max_length=64, default=default_time_zone,
        validators=[validate_time_zone],
        help_text=_("IANA name, e.g. Asia/Tashkent: times are shown in it."),
    )
    # Thresholds for the environment rules (telemetry.rules); per organization because
    # a snack fleet tolerates more heat than a coffee fleet.
    temperature_alert_celsius = models.DecimalField(
        _("temperature alert (°C)"), max_digits=5, decimal_places=1, default=Decimal("30.0")
    )
    humidity_alert_percent = models.DecimalField(
        _("humidity alert (%)"), max_digits=5, decimal_places=1, default=Decimal("80.0"),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    # Cash sitting in a machine is a theft risk and a full box stops cash sales: past this
    # estimate (sales.cash) the responsible operator gets a collection task. Money is an
    # integer in the currency's smallest unit in use, like prices (UZS: sums).
    cash_collection_threshold = models.PositiveBigIntegerField(
        _("cash collection threshold"), default=500_000,
        help_text=_("Estimated cash in a machine's box (in the currency's smallest unit in "
                    "use, UZS: sums) that opens a cash-collection task; 0 turns it off."),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", _("Admin")
    MANAGER = "manager", _("Manager")
    OPERATOR = "operator", _("Operator")
    VIEWER = "viewer", _("Viewer")


#: Roles that manage the fleet: they receive alerts and may change anyone's tasks.
MANAGING_ROLES = (Role.ADMIN, Role.MANAGER)


class MembershipQuerySet(models.QuerySet):
    def operators(self) -> MembershipQuerySet:
        """Memberships with the operator role, of active users: who may be given tasks."""
        return self.filter(role=Role.OPERATOR, user__is_active=True)


class Membership(BaseModel):
    objects = MembershipQuerySet.as_manager()

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="unique_membership")
        ]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")

    def __str__(self) -> str:
        return f"{self.user} @ {self.organization} ({self.role})"

    @property
    def is_manager(self) -> bool:
        return self.role in MANAGING_ROLES


class MachineStatus(models.TextChoices):
    ONLINE = "online", _("Online")
    OFFLINE = "offline", _("Offline")
    MAINTENANCE = "maintenance", _("Maintenance")
    ERROR = "error", _("Error")


#: Statuses a person sets and ends: while a machine is in one, device readings are stored
#: and judged but do not change its status, and the offline watchdog leaves it alone.
#: The four statuses stay the reference design's union, so a reference client needs no new
#: value: "out of service" is maintenance held by a person.
HELD_STATUSES = (MachineStatus.MAINTENANCE,)
#: What a person may set over REST: a held status, or `online` to end the hold and hand
#: the status back to the device readings and the watchdog. `offline` and `error` are what
#: the readings and the watchdog decide.
PERSON_SETTABLE_STATUSES = (*HELD_STATUSES, MachineStatus.ONLINE)


class Machine(BaseModel):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="machines"
    )
    serial_number = models.CharField(_("serial number"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    model = models.CharField(_("model"), max_length=100, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    latitude = models.DecimalField(
        _("latitude"), max_digits=9, decimal_places=6, null=True, blank=True,
        validators=[MinValueValidator(-90), MaxValueValidator(90)],
    )
    longitude = models.DecimalField(
        _("longitude"), max_digits=9, decimal_places=6, null=True, blank=True,
        validators=[MinValueValidator(-180), MaxValueValidator(180)],
    )
    status = models.CharField(
        _("status"), max_length=16, choices=MachineStatus.choices,
        default=MachineStatus.OFFLINE, db_index=True,
    )
    status_set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+", verbose_name=_("status set by"),
        help_text=_("Who put the machine into its held status (maintenance)."),
    )
    status_set_at = models.DateTimeField(
        _("status set at"), null=True, blank=True,
        help_text=_("Since when the machine holds the status a person set."),
    )
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)
    last_sale_at = models.DateTimeField(
        _("last sale"), null=True, blank=True,
        help_text=_("The latest vend the machine reported (sales ingestion keeps it)."),
    )
    responsible_operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="machines_responsible", verbose_name=_("responsible operator"),
        help_text=_("Refill tasks for this machine are assigned to this operator."),
    )
    telemetry_interval_seconds = models.PositiveIntegerField(
        _("expected telemetry interval (s)"), default=60, validators=[MinValueValidator(1)],
        help_text=_("The offline watchdog marks the machine offline after this interval "
                    "times WATCHDOG_SILENCE_FACTOR without telemetry."),
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+", verbose_name=_("updated by"),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("machine")
        verbose_name_plural = _("machines")

    def __str__(self) -> str:
        return f"{self.name} ({self.serial_number})"

    def clean(self) -> None:
        """The responsible operator receives this machine's refill tasks, so they must be
        an operator of the machine's organization."""
        super().clean()
        if self.responsible_operator_id is None or self.organization_id is None:
            return
        if not Membership.objects.operators().filter(
            organization_id=self.organization_id, user_id=self.responsible_operator_id
        ).exists():
            raise ValidationError({"responsible_operator": _(
                "Choose an operator of this machine's organization: refill tasks go to them."
            )})

    @property
    def status_held(self) -> bool:
        """Whether a person holds the status (readings and the watchdog do not change it).

        A device that reports maintenance itself (its service mode) holds nothing: its next
        reading may leave it."""
        return self.status in HELD_STATUSES and self.status_set_at is not None

    def silence_limit(self, factor: float) -> timedelta:
        """How long this machine may stay silent before it is considered offline."""
        return timedelta(seconds=self.telemetry_interval_seconds * factor)


class Ingredient(BaseModel):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="ingredients"
    )
    name = models.CharField(_("name"), max_length=100)
    unit = models.CharField(_("unit"), max_length=16, default="g")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="unique_ingredient_per_organization"
            )
        ]
        verbose_name = _("ingredient")
        verbose_name_plural = _("ingredients")

    def __str__(self) -> str:
        return self.name


class Bunker(BaseModel):
    """An ingredient hopper of one machine. Levels are in grams."""

    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="bunkers")
    ingredient = models.ForeignKey(Ingredient, on_delete=models.PROTECT, related_name="bunkers")
    capacity_grams = models.PositiveIntegerField(
        _("capacity (g)"), validators=[MinValueValidator(1)]
    )
    current_level_grams = models.PositiveIntegerField(_("current level (g)"), default=0)
    #: The level estimated from the recipes of the vends since the last reading reported
    #: this bunker (sales ingestion subtracts, telemetry ingestion resets it to None);
    #: None: no vend since that reading, the current level is the estimate.
    expected_level_grams = models.PositiveIntegerField(
        _("expected level (g)"), null=True, blank=True, editable=False,
        help_text=_("Current level minus the recipes of the vends since the last reading."),
    )
    low_level_threshold_percent = models.PositiveSmallIntegerField(
        _("low-level threshold (%)"), default=20, validators=[MaxValueValidator(100)]
    )

    class Meta:
        ordering = ["machine", "ingredient__name"]
        verbose_name = _("bunker")
        verbose_name_plural = _("bunkers")

    def __str__(self) -> str:
        return f"{self.machine.name}: {self.ingredient.name}"

    def clean(self) -> None:
        super().clean()
        errors = {}
        if (self.capacity_grams is not None and self.current_level_grams is not None
                and self.current_level_grams > self.capacity_grams):
            errors["current_level_grams"] = _("The level cannot exceed the capacity.")
        organization_id = self.machine.organization_id if self.machine_id else None
        if (organization_id is not None and self.ingredient_id is not None
                and self.ingredient.organization_id != organization_id):
            errors["ingredient"] = _("Choose an ingredient of the machine's organization.")
        if errors:
            raise ValidationError(errors)

    @property
    def percentage(self) -> float:
        """Fill level in percent of capacity, rounded to one decimal."""
        if not self.capacity_grams:
            return 0.0
        return round(100.0 * self.current_level_grams / self.capacity_grams, 1)

    @property
    def low_level_alert(self) -> bool:
        return self.is_low_at(self.current_level_grams)

    def is_low_at(self, level_grams: int) -> bool:
        """Whether `level_grams` is under this bunker's low-level threshold."""
        return level_grams * 100 < self.capacity_grams * self.low_level_threshold_percent


class TaskKind(models.TextChoices):
    REFILL = "refill", _("Refill")
    CLEANING = "cleaning", _("Cleaning")
    REPAIR = "repair", _("Repair")
    COLLECTION = "collection", _("Cash collection")
    INSPECTION = "inspection", _("Inspection")


class TaskStatus(models.TextChoices):
    TODO = "todo", _("To do")
    IN_PROGRESS = "in_progress", _("In progress")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")
    #: The assignee could not do it (no access, nothing to bring): back to a manager, who
    #: reopens and reassigns it.
    REJECTED = "rejected", _("Rejected")


OPEN_TASK_STATUSES = (TaskStatus.TODO, TaskStatus.IN_PROGRESS)


class Priority(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")


class Task(BaseModel):
    """Work for a field operator at one machine."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="tasks")
    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="tasks")
    bunker = models.ForeignKey(
        Bunker, on_delete=models.SET_NULL, null=True, blank=True, related_name="tasks",
        help_text=_("For refill tasks: the bunker to refill."),
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="tasks", verbose_name=_("assignee"),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=TaskKind.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=TaskStatus.choices, default=TaskStatus.TODO,
        db_index=True,
    )
    priority = models.CharField(
        _("priority"), max_length=8, choices=Priority.choices, default=Priority.MEDIUM
    )
    # What the server wrote (a refill task opened by a low reading), rendered in each
    # reader's language (notifications.messages); a blank key means the stored text is the
    # text, as a person wrote it. `title` and `notes` keep the site's default language for
    # search and exports.
    title_key = models.CharField(_("title key"), max_length=64, blank=True, editable=False)
    notes_key = models.CharField(_("notes key"), max_length=64, blank=True, editable=False)
    params = models.JSONField(_("parameters"), default=dict, blank=True, editable=False)
    title = models.CharField(_("title"), max_length=200)
    notes = models.TextField(_("notes"), blank=True)
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+", verbose_name=_("created by"),
    )

    class Meta:
        ordering = ["due_at", "-created_at"]
        indexes = [models.Index(fields=["assignee", "status"])]
        constraints = [
            # The database itself guarantees "one open refill task per bunker", so two
            # concurrent readings cannot create a duplicate.
            models.UniqueConstraint(
                fields=["bunker"],
                condition=models.Q(kind="refill", status__in=["todo", "in_progress"]),
                name="one_open_refill_task_per_bunker",
            ),
            # Likewise one open cash-collection task the server opened per machine
            # (sales.cash), however many vend batches pass the threshold at once. Tasks a
            # manager creates by hand (created_by set) are theirs to multiply.
            models.UniqueConstraint(
                fields=["machine"],
                condition=models.Q(kind="collection", status__in=["todo", "in_progress"],
                                   created_by__isnull=True),
                name="one_open_collection_task_per_machine",
            ),
        ]
        verbose_name = _("task")
        verbose_name_plural = _("tasks")

    def __str__(self) -> str:
        return self.title_text()

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_TASK_STATUSES

    @property
    def server_written(self) -> bool:
        """True while the title or notes are the server's keyed text (not a person's)."""
        return bool(self.title_key or self.notes_key)

    def title_text(self, language: str | None = None) -> str:
        """The title in `language` (None: the active one)."""
        return messages.text(self.title_key, self.params, self.title, language=language)[:200]

    def notes_text(self, language: str | None = None) -> str:
        return messages.text(self.notes_key, self.params, self.notes, language=language)

    def title_param(self) -> str | dict:
        """The title as a parameter of another text (a notification about this task), so
        that it is rendered in that text's language."""
        if self.title_key:
            return messages.keyed(self.title_key, self.params)
        return self.title
