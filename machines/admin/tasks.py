"""Tasks: the form keeps a task's bunker on its machine and its assignee an operator."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from machines import selectors, services
from machines.admin.scoping import OrganizationScopedAdmin, ScopedRelatedFilter
from machines.models import Task, TaskStatus


class TaskAdminForm(forms.ModelForm):
    class Meta:
        model = Task
        # The organization is the machine's (set in TaskAdmin.save_model), never typed in.
        fields = [
            "machine",
            "bunker",
            "kind",
            "title",
            "notes",
            "assignee",
            "status",
            "priority",
            "due_at",
        ]

    def clean(self):
        cleaned = super().clean()
        machine, bunker = cleaned.get("machine"), cleaned.get("bunker")
        if machine is not None and bunker is not None and bunker.machine_id != machine.pk:
            self.add_error("bunker", _("This bunker belongs to another machine."))
        assignee = cleaned.get("assignee")
        if (machine is not None and assignee is not None
                and not selectors.is_operator_of(assignee, machine.organization_id)):
            # The rule of the REST API (machines.services): tasks go to operators.
            self.add_error("assignee", _("Choose an operator of the machine's organization."))
        return cleaned


@admin.register(Task)
class TaskAdmin(OrganizationScopedAdmin):
    form = TaskAdminForm
    list_display = [
        "title",
        "machine",
        "assignee",
        "kind",
        "status",
        "priority",
        "due_at",
        "completed_at",
    ]
    list_filter = [
        "status",
        "kind",
        "priority",
        ("organization", ScopedRelatedFilter),
        ("assignee", ScopedRelatedFilter),
    ]
    search_fields = ["title", "notes", "machine__name", "machine__serial_number"]
    list_select_related = ["machine", "assignee"]
    date_hierarchy = "created_at"
    readonly_fields = ["completed_at", "created_by", "created_at", "updated_at"]
    actions = ["assign_to_responsible_operator", "mark_done", "mark_cancelled"]

    def save_model(self, request: HttpRequest, obj: Task, form, change: bool) -> None:
        obj.organization_id = obj.machine.organization_id
        if not change:
            obj.created_by = request.user
        obj.completed_at = services.completed_at_for(
            status=obj.status, completed_at=obj.completed_at
        )
        super().save_model(request, obj, form, change)
        services.announce_task_change(
            task=obj, previous_assignee_id=form.initial.get("assignee") if change else None,
            previous_status=form.initial.get("status") if change else obj.status,
            actor=request.user,
        )

    def _report(self, request: HttpRequest, changed: int, what: str) -> None:
        self.message_user(
            request,
            ngettext("%(count)d task %(what)s.", "%(count)d tasks %(what)s.", changed)
            % {"count": changed, "what": what},
            messages.SUCCESS,
        )

    @admin.action(
        description=_("Assign to the machine's responsible operator"), permissions=["change"]
    )
    def assign_to_responsible_operator(self, request: HttpRequest, queryset: QuerySet) -> None:
        changed = services.assign_tasks_to_responsible_operator(
            tasks=queryset.select_related("machine"), actor=request.user
        )
        self._report(request, changed, _("assigned"))

    @admin.action(description=_("Close selected tasks as done"), permissions=["change"])
    def mark_done(self, request: HttpRequest, queryset: QuerySet) -> None:
        changed = services.set_tasks_status(tasks=queryset, status=TaskStatus.DONE,
                                            actor=request.user)
        self._report(request, changed, _("done"))

    @admin.action(description=_("Cancel selected tasks"), permissions=["change"])
    def mark_cancelled(self, request: HttpRequest, queryset: QuerySet) -> None:
        changed = services.set_tasks_status(tasks=queryset, status=TaskStatus.CANCELLED,
                                            actor=request.user)
        self._report(request, changed, _("cancelled"))
