"""DRF permission classes of the fleet endpoints.

Object visibility is not decided here: querysets come from `machines.selectors`, so an
object of another organization is simply not found (404). These classes only gate actions
on objects the user can already see, or endpoints meant for managers.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from machines import selectors


class IsFleetManager(BasePermission):
    """The user manages (admin or manager role) at least one organization."""

    message = "Only managers may do this."

    def has_permission(self, request, view) -> bool:
        return selectors.is_manager_anywhere(request.user)


class ManagersCreate(BasePermission):
    """Anyone authenticated may read; creating needs a managing role somewhere.

    Which organization the new object lands in is checked by the service.
    """

    message = "Only managers may create tasks."

    def has_permission(self, request, view) -> bool:
        if getattr(view, "action", None) == "create":
            return selectors.is_manager_anywhere(request.user)
        return True
