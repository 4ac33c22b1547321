"""How a person is named in documents and texts (REST, events, notifications)."""

from __future__ import annotations


def display_name(user) -> str | None:
    """The user's full name, else their username; None for no user."""
    if user is None:
        return None
    return user.get_full_name() or user.get_username()


def remembered(user, name: str, compute) -> bool:
    """`compute(user)`, kept on the user object under `name` so that a page asking twice
    (the header's links) queries once; AnonymousUser and other slotted stand-ins are asked
    each time."""
    cached = getattr(user, name, None)
    if cached is None:
        cached = compute(user)
        try:
            setattr(user, name, cached)
        except AttributeError:
            pass
    return cached
