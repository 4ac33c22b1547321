"""WSGI entry point, for the REST API and admin only: websockets need ASGI (vendhub.asgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vendhub.settings")
application = get_wsgi_application()

from vendhub.startup import require_secret_key  # noqa: E402

require_secret_key()
