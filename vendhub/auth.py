"""Password authentication that holds no database connection while it hashes.

Django's `ModelBackend` reads the user and then checks the password, with the request's
database connection still checked out of the pool (settings: DB_POOL*) for the half second
of CPU a PBKDF2 hash takes. A burst of logins then holds every pooled connection at once,
and every other request, ingestion included, waits for one until it fails. This backend
returns the connection to the pool between the read and the check. Inside an atomic block
(a transaction, a test) the connection is kept: closing it would abort the transaction.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db import connections, router


class PoolFriendlyModelBackend(ModelBackend):
    """`ModelBackend` (permissions included), with the password checked after the user's
    row is read and the connection released. An unknown username still costs one hash,
    as in `ModelBackend`, so that response times do not tell which usernames exist."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        user_model = get_user_model()
        if username is None:
            username = kwargs.get(user_model.USERNAME_FIELD)
        if username is None or password is None:
            return None
        try:
            user = user_model._default_manager.get_by_natural_key(username)
        except user_model.DoesNotExist:
            user = None
        release_connection(user_model)
        if user is None:
            user_model().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None


def release_connection(model) -> None:
    """Hand the connection that reads `model` back to the pool, unless a transaction is
    open on it (the next query checks one out again)."""
    connection = connections[router.db_for_read(model)]
    if not connection.in_atomic_block:
        connection.close()
