"""Serve the gateway in the protocol-conformance profile (see realtime/server/conformance.py), under
daphne (what `make run` serves with) or uvicorn (README's production command)."""

from django.core.asgi import get_asgi_application
from django.core.management.base import BaseCommand, CommandError

from realtime.routing import build_application
from realtime.server.serve import serve

#: README's production uvicorn options (section "Serving"), as uvicorn.Config arguments.
UVICORN_OPTIONS = {
    "ws": "realtime.server.engine.uvicorn_ws:WebSocketProtocol",
    "ws_per_message_deflate": False,
    "ws_max_size": 1_048_576,
    "server_header": False,
    "date_header": False,
    "lifespan": "off",
}


class Command(BaseCommand):
    help = (
        "Start the Engine.IO/Socket.IO gateway on 127.0.0.1 in the protocol-conformance "
        "profile expected by the official test suites (echo at /engine.io/, namespaces / and "
        "/custom at /socket.io/, pingInterval 300 ms, pingTimeout 200 ms, no authentication)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=3000)
        parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne",
                            help="the ASGI server (uvicorn: with README's production options)")

    def handle(self, *args, port: int, server: str, **options):
        application = build_application(get_asgi_application(), profile="conformance")
        self.stdout.write(f"Conformance server on http://127.0.0.1:{port} under {server} "
                          "(Ctrl+C stops it)")
        if server == "daphne":
            serve(application, host="127.0.0.1", port=port)
            return
        try:
            import uvicorn
        except ImportError:
            raise CommandError("--server uvicorn needs uvicorn: pip install uvicorn") from None
        uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=port,
                                      **UVICORN_OPTIONS)).run()
