"""What every server entry point checks before it serves (vendhub/asgi.py, vendhub/wsgi.py)."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def require_secret_key() -> None:
    """Refuse to serve in production mode without SECRET_KEY: sessions, JWTs and password
    resets would be signed with a throwaway key (settings give one so that management
    commands such as `check` and `migrate` run without SECRET_KEY)."""
    if not settings.SECRET_KEY_CONFIGURED:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY for production, or DEBUG=1 for development."
        )
