"""`{% load route_nav %}{% if user|works_routes %}`: whether the header links the operator's
route page (/route/): field operators' day is a route of visits.

The answer is kept on the user object, so a page that asks twice queries once.
"""

from __future__ import annotations

from django import template

from machines.selectors import is_operator_anywhere

register = template.Library()


@register.filter
def works_routes(user) -> bool:
    cached = getattr(user, "_works_routes", None)
    if cached is None:
        cached = is_operator_anywhere(user)
        try:
            user._works_routes = cached
        except AttributeError:  # AnonymousUser and other slotted stand-ins
            pass
    return cached
