"""ASGI entry point: Django HTTP plus the Socket.IO-compatible gateway at /socket.io/."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vendhub.settings")
django_asgi_app = get_asgi_application()

from vendhub.startup import require_secret_key  # noqa: E402

require_secret_key()

from django.conf import settings  # noqa: E402

from realtime.routing import build_application  # noqa: E402  (needs Django set up first)
from realtime.server.drain import on_drain  # noqa: E402
from vendhub.health import set_draining  # noqa: E402


def tune_garbage_collector() -> None:
    """Each open connection keeps ~90 objects the collector tracks. With CPython's default
    thresholds a reconnect storm of 5,000 clients ran a full collection at every 25 %
    growth of the heap: 7 to 9 full scans of up to 560k objects, ~3 s of CPU in a 9 s
    storm (bench/ storm). A larger first threshold makes every collection rarer (young ones
    stay small: 10,000 objects), and freezing what startup created (Django, the URLconf,
    the apps: ~120k objects) takes it out of every later scan."""
    if settings.GC_THRESHOLDS:
        gc.set_threshold(*settings.GC_THRESHOLDS)
    if settings.GC_FREEZE:
        gc.collect()  # garbage of the imports is freed, not frozen
        gc.freeze()


application = build_application(django_asgi_app)
# A draining process (SIGTERM under uvicorn, realtime/server/drain.py) fails its health
# check, so the load balancer stops sending it clients before it closes their sockets.
on_drain(set_draining)
tune_garbage_collector()
