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
from notifications.messages import default_text


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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A server-written title and notes read in the admin's language; saved unchanged,
        # they stay keyed (TaskAdmin.save_model), so other readers keep their language.
        task = self.instance
        if task.pk and task.title_key:
            self.initial["title"] = task.title_text()
        if task.pk and task.notes_key:
            self.initial["notes"] = task.notes_text()

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
        "display_title",
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

    @admin.display(description=_("title"), ordering="title")
    def display_title(self, task: Task) -> str:
        # In the admin's language (the stored title, what the search box searches, is the
        # site's default language).
        return task.title_text()

    def save_model(self, request: HttpRequest, obj: Task, form, change: bool) -> None:
        obj.organization_id = obj.machine.organization_id
        if not change:
            obj.created_by = request.user
        obj.completed_at = services.completed_at_for(
            status=obj.status, completed_at=obj.completed_at
        )
        services.drop_server_keys(task=obj, edited=form.changed_data)
        # An unchanged keyed text came back in the admin's language: store the default's.
        if obj.title_key:
            obj.title = default_text(obj.title_key, obj.params)[:200]
        if obj.notes_key:
            obj.notes = default_text(obj.notes_key, obj.params)
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
