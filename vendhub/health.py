"""`GET /healthz`: the load balancer's health check (deploy/haproxy.cfg).

Cheap on purpose: no database, no Redis, no session, so that a check every few seconds from
every balancer costs the process nothing and a slow database does not take every process
out of the pool at once (ingestion answers 503 on its own then). It answers 503 while the
process is draining (`draining()` true), so that the balancer stops sending it new
connections before it exits.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

_draining = False


def draining() -> bool:
    return _draining


def set_draining(value: bool = True) -> None:
    """Mark this process as draining (a rolling restart): the health check fails from now."""
    global _draining
    _draining = value


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    if _draining:
        return HttpResponse("draining\n", status=503, content_type="text/plain")
    return HttpResponse("ok\n", content_type="text/plain")
