"""The back office for the fleet.

Superusers see everything. Other staff see only the objects of their own organizations:
every admin here derives from `OrganizationScopedAdmin`, which filters the changelist,
the change pages (another organization's object is "not found") and the choices of every
foreign key (`machines.selectors.admin_organization_ids` decides).
"""

from machines.admin import fleet, people, tasks  # noqa: F401  (they register their admins)
from machines.admin.scoping import (
    OrganizationScopedAdmin,
    OrganizationScopedMixin,
    ScopedRelatedFilter,
    scoped_choices,
)

__all__ = [
    "OrganizationScopedAdmin",
    "OrganizationScopedMixin",
    "ScopedRelatedFilter",
    "scoped_choices",
]
