"""Back office for device keys: issue a key (shown once) and revoke keys.

Registered from TelemetryConfig.ready(), next to the other telemetry admins.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from machines.admin import OrganizationScopedAdmin, ScopedRelatedFilter
from telemetry.device_keys import issue_device_key, revoke_device_keys
from telemetry.models import DeviceKey


class IssueDeviceKeyForm(forms.ModelForm):
    revoke_existing = forms.BooleanField(
        label=_("Revoke the machine's other keys"), required=False,
        help_text=_("For a replaced or compromised device."),
    )

    class Meta:
        model = DeviceKey
        fields = ["machine", "label"]


@admin.register(DeviceKey)
class DeviceKeyAdmin(OrganizationScopedAdmin):
    """Adding a key issues it: pick the machine, save, copy the key from the message.

    The key is shown once and stored only as a hash; a lost key is revoked and reissued.
    """

    organization_lookup = "machine__organization"
    list_display = ["prefix", "machine", "label", "created_at", "revoked_at", "active"]
    list_filter = [("machine__organization", ScopedRelatedFilter)]
    search_fields = ["prefix", "label", "machine__name", "machine__serial_number"]
    list_select_related = ["machine"]
    actions = ["revoke"]
    readonly_fields = ["prefix", "created_at", "revoked_at"]

    def get_fields(self, request: HttpRequest, obj=None):
        if obj is None:
            return ["machine", "label", "revoke_existing"]
        return ["machine", "label", "prefix", "created_at", "revoked_at"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return self.readonly_fields if obj is None else ["machine", *self.readonly_fields]

    def get_form(self, request: HttpRequest, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = IssueDeviceKeyForm
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request: HttpRequest, obj: DeviceKey, form, change: bool) -> None:
        if change:
            obj.save(update_fields=["label", "updated_at"])
            return
        issued = issue_device_key(machine=obj.machine, label=obj.label,
                                  revoke_existing=form.cleaned_data.get("revoke_existing", False))
        # Let the admin's redirect and log refer to the row issue_device_key created.
        obj.pk, obj.prefix = issued.device_key.pk, issued.device_key.prefix
        obj._state.adding = False
        messages.warning(request, _(
            "Device key for %(machine)s: %(key)s — copy it now, it will not be shown again. "
            "The machine sends it as `Authorization: Device <key>`."
        ) % {"machine": obj.machine, "key": issued.plaintext})
        if settings.MQTT_URL:
            # The devices app provisions the broker client after this request's commit.
            messages.info(request, _(
                "Over MQTT the machine connects with the username %(serial)s and this key as "
                "its password."
            ) % {"serial": obj.machine.serial_number})

    @admin.display(description=_("active"), boolean=True)
    def active(self, key: DeviceKey) -> bool:
        return key.is_active

    @admin.action(description=_("Revoke selected device keys"), permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        revoked = revoke_device_keys(keys=queryset)
        self.message_user(request, ngettext("%d key revoked.", "%d keys revoked.", revoked)
                          % revoked, messages.SUCCESS)
