"""What machines report: readings and the errors they raise."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from machines.models import Machine, MachineStatus
from vendhub.models import BaseModel


class TelemetryReading(BaseModel):
    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="readings")
    timestamp = models.DateTimeField(_("timestamp"))
    status = models.CharField(_("status"), max_length=16, choices=MachineStatus.choices)
    temperature = models.FloatField(_("temperature (°C)"), null=True, blank=True)
    humidity = models.FloatField(_("humidity (%)"), null=True, blank=True)
    uptime_seconds = models.PositiveBigIntegerField(_("uptime (s)"), default=0)
    last_sale_at = models.DateTimeField(_("last sale"), null=True, blank=True)
    #: [{"bunkerId": "...", "currentLevel": 1234}, ...] as reported.
    bunker_levels = models.JSONField(_("bunker levels"), default=list, blank=True)

    class Meta:
        ordering = ["-timestamp"]
        constraints = [
            # Idempotency: a device retrying the same reading does not store it twice.
            models.UniqueConstraint(
                fields=["machine", "timestamp"], name="unique_reading_per_instant"
            )
        ]
        # The unique constraint's index (machine, timestamp) serves both "latest reading
        # of a machine" (backwards scan) and "readings of a machine in a time range".
        verbose_name = _("telemetry reading")
        verbose_name_plural = _("telemetry readings")

    def __str__(self) -> str:
        return f"{self.machine.serial_number} @ {self.timestamp:%Y-%m-%d %H:%M:%S}"


class Severity(models.TextChoices):
    WARNING = "warning", _("Warning")
    ERROR = "error", _("Error")
    CRITICAL = "critical", _("Critical")


class MachineError(BaseModel):
    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="errors")
    code = models.CharField(_("code"), max_length=64)
    message = models.CharField(_("message"), max_length=500, blank=True)
    severity = models.CharField(
        _("severity"), max_length=16, choices=Severity.choices, default=Severity.ERROR
    )
    occurred_at = models.DateTimeField(_("occurred"))
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["machine", "resolved_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["machine", "code"],
                condition=models.Q(resolved_at__isnull=True),
                name="one_open_error_per_code",
            )
        ]
        verbose_name = _("machine error")
        verbose_name_plural = _("machine errors")

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class DeviceKey(BaseModel):
    """A machine's credential for `Authorization: Device <key>` (see telemetry.device_keys).

    The key is `<prefix>.<secret>`: the prefix finds the row, the secret is checked against
    `secret_hash` (sha256: the secret is 32 random bytes, so a fast hash is enough). The
    plaintext is shown once, when issued, and stored nowhere.
    """

    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="device_keys")
    prefix = models.CharField(_("prefix"), max_length=24, unique=True, editable=False)
    secret_hash = models.CharField(_("secret hash"), max_length=64, editable=False)
    label = models.CharField(_("label"), max_length=100, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("device key")
        verbose_name_plural = _("device keys")

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.machine.serial_number})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class MachineHealth(models.Model):
    """Episode flags of the environment rules, one row per machine (telemetry.rules).

    A warning is sent when an episode starts, not for every reading during it; the flags
    remember that an episode is running. Ingestion holds the machine's row lock while it
    reads and writes them.
    """

    machine = models.OneToOneField(
        Machine, on_delete=models.CASCADE, primary_key=True, related_name="health"
    )
    temperature_alert_active = models.BooleanField(_("temperature alert active"), default=False)
    humidity_alert_active = models.BooleanField(_("humidity alert active"), default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("machine health")
        verbose_name_plural = _("machine health")

    def __str__(self) -> str:
        return f"health of {self.machine_id}"
