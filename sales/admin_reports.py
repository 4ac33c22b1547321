"""The sales figures of the DailySales changelist: totals, per payment method and the top
machines of whatever the staff member filtered (date hierarchy, organization, method,
search), above the rows. Scoped like the rows: the figures are computed from the
changelist's own queryset, which the organization-scoped admin already narrowed."""

from __future__ import annotations

from django.http import HttpRequest

from sales.reports import figures_of


class SalesFiguresMixin:
    change_list_template = "admin/sales/dailysales/change_list.html"

    def changelist_view(self, request: HttpRequest, extra_context=None):
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        # A redirect (a bad filter value) or an error page has no changelist to sum.
        if context and context.get("cl") is not None:
            context["sales_figures"] = figures_of(context["cl"].queryset)
        return response
