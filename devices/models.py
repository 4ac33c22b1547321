"""Commands sent to machines over MQTT, and the state of the MQTT ingestion workers."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from machines.models import Machine, Organization
from vendhub.models import BaseModel


class CommandKind(models.TextChoices):
    ENTER_MAINTENANCE = "enter_maintenance", _("Enter maintenance")
    LEAVE_MAINTENANCE = "leave_maintenance", _("Leave maintenance")
    REBOOT = "reboot", _("Reboot")
    SET_PRICE = "set_price", _("Set a selection's price")
    REQUEST_AUDIT = "request_audit", _("Send a DEX audit now")


class CommandState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    DELIVERED = "delivered", _("Delivered")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    FAILED = "failed", _("Failed")
    EXPIRED = "expired", _("Expired")


#: States a command does not leave.
FINAL_COMMAND_STATES = (CommandState.ACKNOWLEDGED, CommandState.FAILED, CommandState.EXPIRED)


class MachineCommand(BaseModel):
    """A command for one machine: stored first, published on the machine's `commands`
    topic (QoS 1, with an expiry), closed by the device's answer on `ack`."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="machine_commands")
    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="commands")
    kind = models.CharField(_("kind"), max_length=24, choices=CommandKind.choices)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    state = models.CharField(_("state"), max_length=16, choices=CommandState.choices,
                             default=CommandState.QUEUED, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+",
                                   verbose_name=_("sent by"))
    expires_at = models.DateTimeField(_("expires at"))
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    #: The device's answer (`{"ok": true}`, or an error code and message).
    result = models.JSONField(_("result"), default=dict, blank=True)
    #: A publisher's lease on a queued command (devices.publisher): another publisher
    #: takes it over only after this, so a command is published by one process at a time
    #: and again only when that process died before the broker's PUBACK.
    claimed_until = models.DateTimeField(_("claimed until"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["machine", "-created_at"])]
        verbose_name = _("machine command")
        verbose_name_plural = _("machine commands")

    def __str__(self) -> str:
        return f"{self.kind} → {self.machine} ({self.state})"


class IngestWorker(models.Model):
    """What one running `manage.py mqtt_ingest` last said of itself (the admin's realtime
    health page shows it)."""

    name = models.CharField(_("worker"), max_length=100, primary_key=True)
    hostname = models.CharField(_("host"), max_length=200, blank=True)
    pid = models.PositiveIntegerField(_("process id"), null=True, blank=True)
    connected = models.BooleanField(_("connected to the broker"), default=False)
    started_at = models.DateTimeField(_("started at"))
    heartbeat_at = models.DateTimeField(_("last heartbeat"))
    last_message_at = models.DateTimeField(_("last message"), null=True, blank=True)
    #: Seconds between a message's publication (its timestamp) and its commit, latest batch.
    lag_seconds = models.FloatField(_("lag (s)"), default=0.0)
    messages = models.PositiveBigIntegerField(_("messages handled"), default=0)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("MQTT ingestion worker")
        verbose_name_plural = _("MQTT ingestion workers")

    def __str__(self) -> str:
        return self.name


class CredentialAction(models.TextChoices):
    PROVISION = "provision", _("Provision")
    REMOVE = "remove", _("Remove")


class BrokerCredentialChange(models.Model):
    """The outbox of the broker's device clients (devices/credentials.py): written in the
    transaction that issues or revokes a device key, applied to the broker after the commit,
    and retried by `manage.py mqtt_sync_credentials` while the broker is unreachable.

    A key's plaintext exists only when it is issued, so a provisioning row keeps it sealed
    (encrypted with a key derived from SECRET_KEY) until the broker has it, then wipes it."""

    device_key = models.ForeignKey("telemetry.DeviceKey", on_delete=models.CASCADE,
                                   related_name="+")
    #: The broker username (the machine's serial when the key was issued or revoked).
    serial = models.CharField(_("serial number"), max_length=64)
    action = models.CharField(_("action"), max_length=16, choices=CredentialAction.choices)
    sealed_password = models.TextField(blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    #: Leased to the process applying it until then; after a failure, its next retry.
    claimed_until = models.DateTimeField(null=True, blank=True)
    #: Applied, or given up (`last_error` says why); pending while null.
    settled_at = models.DateTimeField(_("settled at"), null=True, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("broker credential change")
        verbose_name_plural = _("broker credential changes")

    def __str__(self) -> str:
        return f"{self.action} {self.serial}"
