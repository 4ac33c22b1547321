"""ASGI entry point: Django HTTP plus the Socket.IO-compatible gateway at /socket.io/."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vendhub.settings")
django_asgi_app = get_asgi_application()

from realtime.routing import build_application  # noqa: E402  (needs Django set up first)

application = build_application(django_asgi_app)
