"""Reads of the visit on the operator's phone, scoped to what a viewer may see."""

from __future__ import annotations

from django.db.models import QuerySet

from machines.selectors import organization_ids_for
from operations.models import Visit


def visits_for(user) -> QuerySet[Visit]:
    """Visits of the routes of the organizations `user` belongs to (any role: who may act
    on one is `operations.visits.may_act_on`)."""
    return Visit.objects.filter(route__organization_id__in=organization_ids_for(user))
