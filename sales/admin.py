"""Back office for sales: products, planogram versions (selections inline, recipes inline on
a selection), vends and daily rollups (read-only: ingestion writes them). Every admin is
organization-scoped like the fleet's."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from machines import selectors
from machines.admin import OrganizationScopedAdmin, OrganizationScopedMixin, ScopedRelatedFilter
from sales import cash
from sales.admin_reports import SalesFiguresMixin
from sales.admin_rollups import OrganizationFilter, RollupAdminMixin
from sales.audits import AuditRejected, import_audit
from sales.forms import AuditImportForm
from sales.models import (
    AuditRecord,
    AuditSource,
    CashCollection,
    DailyMachineSales,
    DailyProductSales,
    DailySales,
    Planogram,
    Product,
    RecipeItem,
    Selection,
    Vend,
)


class SalesScopedMixin(OrganizationScopedMixin):
    """Also limits product, planogram and selection choices to the staff's organizations."""

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        organization_ids = selectors.admin_organization_ids(request.user)
        model = db_field.related_model
        if organization_ids is not None and "queryset" not in kwargs:
            if model is Product:
                kwargs["queryset"] = Product.objects.filter(organization_id__in=organization_ids)
            elif model is Planogram:
                kwargs["queryset"] = Planogram.objects.filter(
                    machine__organization_id__in=organization_ids)
            elif model is Selection:
                kwargs["queryset"] = Selection.objects.filter(
                    planogram__machine__organization_id__in=organization_ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ReadOnlyAdmin(OrganizationScopedAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Product)
class ProductAdmin(SalesScopedMixin, OrganizationScopedAdmin):
    list_display = ["name", "sku", "barcode", "category", "unit_cost", "organization"]
    list_filter = [("organization", ScopedRelatedFilter), "category"]
    search_fields = ["name", "sku", "barcode", "category"]
    list_select_related = ["organization"]


class SelectionInline(SalesScopedMixin, admin.TabularInline):
    model = Selection
    extra = 0
    fields = ["code", "product", "price", "capacity", "par_level"]
    show_change_link = True  # the recipe is edited on the selection's page


@admin.register(Planogram)
class PlanogramAdmin(SalesScopedMixin, OrganizationScopedAdmin):
    organization_lookup = "machine__organization"
    list_display = ["machine", "effective_from", "selection_count", "created_by"]
    list_filter = [("machine__organization", ScopedRelatedFilter),
                   ("machine", ScopedRelatedFilter)]
    search_fields = ["machine__name", "machine__serial_number"]
    list_select_related = ["machine", "created_by"]
    date_hierarchy = "effective_from"
    readonly_fields = ["created_by", "created_at"]
    inlines = [SelectionInline]

    @admin.display(description=_("selections"))
    def selection_count(self, planogram: Planogram) -> int:
        return planogram.selections.count()

    def save_model(self, request: HttpRequest, obj: Planogram, form, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


class RecipeItemInline(OrganizationScopedMixin, admin.TabularInline):
    model = RecipeItem
    extra = 0
    fields = ["ingredient", "grams"]


@admin.register(Selection)
class SelectionAdmin(SalesScopedMixin, OrganizationScopedAdmin):
    organization_lookup = "planogram__machine__organization"
    list_display = ["code", "product", "price", "capacity", "par_level", "planogram"]
    list_filter = [("planogram__machine__organization", ScopedRelatedFilter),
                   ("product", ScopedRelatedFilter)]
    search_fields = ["code", "product__name", "planogram__machine__name"]
    list_select_related = ["product", "planogram__machine"]
    inlines = [RecipeItemInline]


@admin.register(RecipeItem)
class RecipeItemAdmin(SalesScopedMixin, OrganizationScopedAdmin):
    organization_lookup = "selection__planogram__machine__organization"
    list_display = ["selection", "ingredient", "grams"]
    list_filter = [("ingredient", ScopedRelatedFilter)]
    search_fields = ["ingredient__name", "selection__code", "selection__product__name"]
    list_select_related = ["selection__product", "selection__planogram__machine", "ingredient"]


@admin.register(Vend)
class VendAdmin(ReadOnlyAdmin):
    organization_lookup = "machine__organization"
    list_display = ["machine", "timestamp", "selection", "product", "price", "payment_method",
                    "provider", "transaction_id"]
    list_filter = ["payment_method", ("machine__organization", ScopedRelatedFilter)]
    search_fields = ["machine__name", "machine__serial_number", "transaction_id", "selection",
                     "product__name"]
    list_select_related = ["machine", "product"]
    date_hierarchy = "timestamp"
    show_full_result_count = False


#: The rollups' filters: each reads no rollup row to draw itself.
ROLLUP_FILTERS = [("day", admin.DateFieldListFilter), "payment_method",
                  ("organization", OrganizationFilter)]


@admin.register(DailySales)
class DailySalesAdmin(SalesFiguresMixin, RollupAdminMixin, ReadOnlyAdmin):
    list_display = ["day", "machine", "product", "payment_method", "vends", "revenue"]
    list_filter = ROLLUP_FILTERS
    search_fields = ["machine__name", "machine__serial_number", "product__name"]
    list_select_related = ["machine", "product"]


@admin.register(DailyMachineSales)
class DailyMachineSalesAdmin(RollupAdminMixin, ReadOnlyAdmin):
    """DailySales summed over products (the reports by day, machine and method read it)."""

    list_display = ["day", "machine", "payment_method", "vends", "revenue"]
    list_filter = ROLLUP_FILTERS
    search_fields = ["machine__name", "machine__serial_number"]
    list_select_related = ["machine"]


@admin.register(DailyProductSales)
class DailyProductSalesAdmin(RollupAdminMixin, ReadOnlyAdmin):
    """DailySales summed over machines (the report by product reads it)."""

    list_display = ["day", "product", "payment_method", "vends", "revenue", "organization"]
    list_filter = ROLLUP_FILTERS
    search_fields = ["product__name", "product__sku"]
    list_select_related = ["product", "organization"]


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAdmin):
    """Imported audits, read-only: the raw file as uploaded, its period and reconciliation
    (written once by `sales.audits.import_audit`)."""

    organization_lookup = "machine__organization"
    list_display = ["machine", "audited_at", "read_at", "uploaded_at", "source",
                    "machine_serial", "flags", "matches"]
    list_filter = ["source", ("machine__organization", ScopedRelatedFilter),
                   ("machine", ScopedRelatedFilter)]
    search_fields = ["machine__name", "machine__serial_number", "machine_serial"]
    list_select_related = ["machine"]
    date_hierarchy = "audited_at"
    readonly_fields = ["machine", "uploaded_at", "read_at", "audited_at", "source",
                       "machine_serial", "previous", "raw_text", "raw_sha256", "period",
                       "reconciliation"]

    change_list_template = "admin/sales/auditrecord/change_list.html"

    def get_urls(self):
        view = self.admin_site.admin_view(self.import_view)
        return [path("import/", view, name="sales_auditrecord_import"), *super().get_urls()]

    def has_import_permission(self, request: HttpRequest) -> bool:
        # Records are never added or edited by hand, only imported from a file.
        return request.user.has_perm("sales.add_auditrecord")

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra = {"can_import": self.has_import_permission(request), **(extra_context or {})}
        return super().changelist_view(request, extra)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """"Import DEX file": a file for one machine of the staff member's organizations,
        imported like a device's; a file that cannot be read is refused naming the line and
        the segment, and nothing is stored."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = AuditImportForm(request.POST or None, request.FILES or None, user=request.user,
                               initial={"machine": request.GET.get("machine")})
        if request.method == "POST" and form.is_valid():
            try:
                result = import_audit(machine=form.cleaned_data["machine"],
                                      text=form.cleaned_data["file"], source=AuditSource.ADMIN)
            except AuditRejected as exc:
                form.add_error("file", exc.detail["detail"])
            else:
                if result.created:
                    self.message_user(request, _("The audit was imported."), messages.SUCCESS)
                else:
                    self.message_user(request, _("This file was imported before: nothing "
                                                 "changed."), messages.WARNING)
                return redirect(reverse("admin:sales_auditrecord_change",
                                        args=[result.record.pk]))
        return TemplateResponse(request, "admin/sales/auditrecord/import.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "form": form,
            "title": _("Import DEX file"), "media": self.media + form.media,
        })

    @admin.display(description=_("flags"))
    def flags(self, record: AuditRecord) -> str:
        return ", ".join(record.period.get("flags", []))

    @admin.display(description=_("matches the vends"), boolean=True)
    def matches(self, record: AuditRecord) -> bool | None:
        if not record.reconciliation.get("comparable"):
            return None
        return bool(record.reconciliation.get("matches"))


class CashCollectionForm(forms.ModelForm):
    class Meta:
        model = CashCollection
        fields = ["machine", "collected_at", "amount", "notes"]

    def clean(self) -> dict:
        cleaned = super().clean()
        machine, collected_at = cleaned.get("machine"), cleaned.get("collected_at")
        if machine is not None and collected_at is not None:
            errors = cash.collection_time_errors(machine=machine, collected_at=collected_at,
                                                 now=timezone.now())
            for message in errors.get("collectedAt", []):
                self.add_error("collected_at", message)
        return cleaned


@admin.register(CashCollection)
class CashCollectionAdmin(SalesScopedMixin, OrganizationScopedAdmin):
    """Collections: recorded here or over the API (`sales.cash.save_collection` computes
    the expected amount and closes the collection task), never edited afterwards: the
    difference must stay what the collector faced."""

    form = CashCollectionForm
    list_display = ["machine", "collected_at", "amount", "expected", "difference",
                    "expected_source", "collected_by", "task"]
    list_filter = ["expected_source", ("organization", ScopedRelatedFilter),
                   ("machine", ScopedRelatedFilter)]
    search_fields = ["machine__name", "machine__serial_number", "notes"]
    list_select_related = ["machine", "collected_by", "task"]
    date_hierarchy = "collected_at"

    @admin.display(description=_("difference"))
    def difference(self, collection: CashCollection) -> int:
        return collection.difference

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        if obj is None:
            return []
        return ["machine", "organization", "collected_at", "amount", "expected",
                "expected_source", "period_from", "collected_by", "task", "notes"]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        return {"collected_at": timezone.now(), **super().get_changeform_initial_data(request)}

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: CashCollection, form, change: bool) -> None:
        obj.collected_by = request.user
        cash.save_collection(collection=obj)
