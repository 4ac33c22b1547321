"""`{% load sales_nav %}{% if user|sees_sales %}`: whether the header links the Sales page.

The page and its report API are for managers; the answer is kept on the user object, so
a page that asks twice queries once.
"""

from __future__ import annotations

from django import template

from machines.selectors import is_manager_anywhere
from vendhub.people import remembered

register = template.Library()


@register.filter
def sees_sales(user) -> bool:
    return remembered(user, "_sees_sales", is_manager_anywhere)
