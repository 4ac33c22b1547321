"""Forms of the sales back office: the admin's audit file upload."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import APIException

from machines import selectors
from machines.models import Machine
from vendhub.parsers import PlainTextParser


class AuditImportForm(forms.Form):
    """A DEX/EVA-DTS file for one machine of the staff member's organizations."""

    machine = forms.ModelChoiceField(queryset=Machine.objects.none(), label=_("machine"))
    file = forms.FileField(label=_("audit file"),
                           help_text=_("A DEX/UCS or EVA-DTS audit, at most 1 MB."))

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        organization_ids = selectors.admin_organization_ids(user)
        machines = Machine.objects.order_by("name")
        if organization_ids is not None:
            machines = machines.filter(organization_id__in=organization_ids)
        self.fields["machine"].queryset = machines.select_related("organization")

    def clean_file(self) -> str:
        """The file's text, decoded and limited as the audit endpoints do."""
        try:
            text = PlainTextParser().parse(self.cleaned_data["file"])
        except APIException as exc:  # larger than the limit
            raise forms.ValidationError(str(exc.detail)) from exc
        if not text.strip():
            raise forms.ValidationError(_("The file is empty."))
        return text
