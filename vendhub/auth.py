"""Password authentication that holds no database connection while it hashes.

Django's `ModelBackend` reads the user and then checks the password, with the request's
database connection still checked out of the pool (settings: DB_POOL*) for the half second
of CPU a PBKDF2 hash takes. A burst of logins then holds every pooled connection at once,
and every other request, ingestion included, waits for one until it fails. This backend
returns the connection to the pool between the read and the check. Inside an atomic block
(a transaction, a test) the connection is kept: closing it would abort the transaction.

Hashes are also computed a few at a time per process (PASSWORD_HASHING_CONCURRENCY, by
default one core fewer than the machine has): a burst of logins queues for a core instead of
taking every core from the requests that hold database connections, which would then keep
them so long that the pool runs dry anyway. A login that cannot get its turn within
HASHING_WAIT seconds fails like a wrong password.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.db import connections, router

logger = logging.getLogger(__name__)

#: Seconds a login waits for its turn to hash before it is refused.
HASHING_WAIT = 10.0
_hashing = threading.BoundedSemaphore(settings.PASSWORD_HASHING_CONCURRENCY)


@contextmanager
def hashing_turn():
    """Holds one of the process's password-hashing slots; raises PermissionDenied (Django's
    `authenticate` then fails the login) when none frees up in HASHING_WAIT seconds."""
    if not _hashing.acquire(timeout=HASHING_WAIT):
        logger.warning("password check refused: no hashing slot free in %.0f s", HASHING_WAIT)
        raise PermissionDenied("too many password checks at once")
    try:
        yield
    finally:
        _hashing.release()


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
        with hashing_turn():
            if user is None:
                user_model().set_password(password)
                return None
            valid = user.check_password(password)
        return user if valid and self.user_can_authenticate(user) else None


def release_connection(model) -> None:
    """Hand the connection that reads `model` back to the pool, unless a transaction is
    open on it (the next query checks one out again)."""
    connection = connections[router.db_for_read(model)]
    if not connection.in_atomic_block:
        connection.close()
