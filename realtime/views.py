"""Observability endpoints: Prometheus metrics and the admin's "realtime health" page.

Both read the figures of the process that serves the request (realtime/server/metrics.py and the
hub); with several server processes, scrape each of them.
"""

from __future__ import annotations

import ipaddress
import threading
import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.http import require_GET
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from devices.worker_health import ingest_workers

from .server import metrics
from .server.hub import hub_stats

#: Rows of the health page: (section title, sample-name prefix in metrics.snapshot()).
HEALTH_SECTIONS = (
    ("Connections by transport", "vendhub_realtime_connections"),
    ("Rooms with local members", "vendhub_realtime_rooms"),
    ("Events emitted, by event", "vendhub_realtime_events_emitted_total"),
    ("Frames delivered to sockets, by event", "vendhub_realtime_frames_delivered_total"),
    ("Messages dropped, by reason", "vendhub_realtime_messages_dropped_total"),
    ("Connection state recoveries, by outcome", "vendhub_realtime_recoveries_total"),
    ("Telemetry ingestion", "vendhub_telemetry_"),
)


#: Headers by which proxies and CDNs name the client they relay for (`X-Forwarded-*` and
#: `X-Original-*` are matched by prefix). A request carrying any of them was relayed, whatever
#: its REMOTE_ADDR: a proxy on this host connects from loopback.
FORWARDING_HEADERS = frozenset({
    "HTTP_FORWARDED", "HTTP_X_REAL_IP", "HTTP_TRUE_CLIENT_IP", "HTTP_CF_CONNECTING_IP",
    "HTTP_X_CLIENT_IP", "HTTP_FASTLY_CLIENT_IP", "HTTP_X_CLUSTER_CLIENT_IP",
    "HTTP_X_PROXYUSER_IP", "HTTP_CLIENT_IP", "HTTP_VIA", "HTTP_X_AZURE_CLIENTIP",
    "HTTP_X_APPENGINE_USER_IP", "HTTP_AKAMAI_ORIGIN_HOP",
})
FORWARDING_PREFIXES = ("HTTP_X_FORWARDED", "HTTP_X_ORIGINAL_")


def _is_relayed(request: HttpRequest) -> bool:
    return any(name in FORWARDING_HEADERS or name.startswith(FORWARDING_PREFIXES)
               for name in request.META)


def _is_loopback_client(request: HttpRequest) -> bool:
    """The request comes straight from this host (not relayed by a proxy on this host)."""
    if _is_relayed(request):
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


@require_GET
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    """`GET /metrics`: this process's metrics in the Prometheus text format.

    With `METRICS_TOKEN` set, only `Authorization: Bearer <METRICS_TOKEN>` is served (401
    otherwise); without it, only loopback clients (403 otherwise, and for anything that
    carries a forwarding header: relayed by a proxy)."""
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not constant_time_compare(value.strip(), token):
            response = HttpResponse("A bearer token is required.\n", status=401,
                                    content_type="text/plain; charset=utf-8")
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    elif not _is_loopback_client(request):
        return HttpResponse("Metrics are served to loopback clients only (or set METRICS_TOKEN).\n",
                            status=403, content_type="text/plain; charset=utf-8")
    return HttpResponse(generate_latest(metrics.REGISTRY), content_type=CONTENT_TYPE_PLAIN_0_0_4)


class RateMeter:
    """Readings per second between two views of the health page (it refreshes itself)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: tuple[float, float] | None = None

    def rate(self, total: float, *, clock=time.monotonic) -> float | None:
        now = clock()
        with self._lock:
            last, self._last = self._last, (now, total)
        if last is None or now - last[0] <= 0 or now - last[0] > 300 or total < last[1]:
            return None
        return (total - last[1]) / (now - last[0])


_ingest_rate = RateMeter()


def health_context() -> dict:
    values = metrics.snapshot()
    sections = []
    for title, prefix in HEALTH_SECTIONS:
        rows = [(name.removeprefix(prefix).strip("_") or "value", value)
                for name, value in sorted(values.items()) if name.startswith(prefix)]
        sections.append({"title": title, "rows": rows})
    count = values.get("vendhub_telemetry_ingest_seconds_count", 0.0)
    total = values.get("vendhub_telemetry_ingest_seconds_sum", 0.0)
    readings = values.get("vendhub_telemetry_readings_ingested_total", 0.0)
    rate = _ingest_rate.rate(readings)
    summary = [
        ("Readings stored", f"{readings:.0f}"),
        ("Ingest requests", f"{count:.0f}"),
        ("Mean ingest latency", f"{1000 * total / count:.1f} ms" if count else "–"),
        ("Ingest rate since the last refresh",
         f"{rate:.1f} readings/s" if rate is not None else "–"),
    ]
    return {"summary": summary, "sections": sections, "hub": sorted(hub_stats().items())}


def realtime_health(request: HttpRequest, *, admin_site) -> TemplateResponse:
    """The admin's "realtime health" page (staff only: wrapped by `admin_site.admin_view`)."""
    context = {
        **admin_site.each_context(request),
        "title": "Realtime health",
        **health_context(),
        # The MQTT ingestion workers run in processes of their own: their heartbeats, not
        # this process's figures.
        "ingest_workers": ingest_workers(),
    }
    return TemplateResponse(request, "admin/realtime_health.html", context)
