"""How a person is named in documents and texts (REST, events, notifications)."""

from __future__ import annotations


def display_name(user) -> str | None:
    """The user's full name, else their username; None for no user."""
    if user is None:
        return None
    return user.get_full_name() or user.get_username()
