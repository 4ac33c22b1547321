"""`{% load route_nav %}{% if user|works_routes %}`: whether the header links the operator's
route page (/route/): field operators' day is a route of visits.

The answer is kept on the user object, so a page that asks twice queries once.
"""

from __future__ import annotations

from django import template

from machines.selectors import is_operator_anywhere
from vendhub.people import remembered

register = template.Library()


@register.filter
def works_routes(user) -> bool:
    return remembered(user, "_works_routes", is_operator_anywhere)
