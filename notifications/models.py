"""Messages for one person, shown in the notification centre."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from machines.models import Machine, Organization, Priority
from notifications.messages import text
from vendhub.models import BaseModel


class NotificationType(models.TextChoices):
    INFO = "info", _("Info")
    WARNING = "warning", _("Warning")
    ERROR = "error", _("Error")
    SUCCESS = "success", _("Success")


class Notification(BaseModel):
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="notifications"
    )
    machine = models.ForeignKey(
        Machine, on_delete=models.SET_NULL, null=True, blank=True, related_name="notifications"
    )
    # What happened, rendered in each reader's language (notifications.messages); a blank
    # key means the stored text is the text (written by a person or a device).
    title_key = models.CharField(_("title key"), max_length=64, blank=True, editable=False)
    message_key = models.CharField(_("message key"), max_length=64, blank=True, editable=False)
    params = models.JSONField(_("parameters"), default=dict, blank=True, editable=False)
    # The text in the site's default language, kept for search, exports and old clients.
    title = models.CharField(_("title"), max_length=200)
    message = models.TextField(_("message"), blank=True)
    type = models.CharField(
        _("type"), max_length=16, choices=NotificationType.choices, default=NotificationType.INFO
    )
    priority = models.CharField(
        _("priority"), max_length=8, choices=Priority.choices, default=Priority.MEDIUM
    )
    read = models.BooleanField(_("read"), default=False)
    # What the notification is about when it must reach each person once however often the
    # condition is seen (a watchdog sees a stopped machine on every sweep): at most one
    # notification per recipient and key. Blank: no such limit.
    dedup_key = models.CharField(_("deduplication key"), max_length=128, blank=True,
                                 editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["recipient", "read", "-created_at"])]
        constraints = [
            # Key first: "was this episode notified already?" looks a key up without recipient.
            models.UniqueConstraint(fields=["dedup_key", "recipient"],
                                    condition=~models.Q(dedup_key=""),
                                    name="one_notification_per_dedup_key_and_recipient"),
        ]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")

    def __str__(self) -> str:
        return self.title_text()

    def title_text(self, language: str | None = None) -> str:
        """The title in `language` (None: the active one)."""
        return text(self.title_key, self.params, self.title, language=language)[:200]

    def message_text(self, language: str | None = None) -> str:
        return text(self.message_key, self.params, self.message, language=language)


class LanguagePreference(models.Model):
    """The language a person reads in, set by the dashboard's language switcher: their
    socket events (rendered when published, with no request at hand) use it."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True,
        related_name="language_preference",
    )
    # One of settings.LANGUAGES (notifications.services.set_language checks it); no
    # choices, so that offering a language needs no migration.
    language = models.CharField(_("language"), max_length=16)

    class Meta:
        verbose_name = _("language preference")
        verbose_name_plural = _("language preferences")

    def __str__(self) -> str:
        return self.language
