"""Serve the gateway in the protocol-conformance profile (see realtime/conformance.py)."""

from django.core.asgi import get_asgi_application
from django.core.management.base import BaseCommand

from realtime.routing import build_application
from realtime.serve import serve


class Command(BaseCommand):
    help = (
        "Start the Engine.IO/Socket.IO gateway on 127.0.0.1 in the protocol-conformance "
        "profile expected by the official test suites (echo at /engine.io/, namespaces / and "
        "/custom at /socket.io/, pingInterval 300 ms, pingTimeout 200 ms, no authentication)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=3000)

    def handle(self, *args, port: int, **options):
        application = build_application(get_asgi_application(), profile="conformance")
        self.stdout.write(f"Conformance server on http://127.0.0.1:{port} (Ctrl+C stops it)")
        serve(application, host="127.0.0.1", port=port)
