"""Prometheus metrics of the telemetry pipeline, on the gateway's registry so that the one
metrics endpoint (realtime/views.py) exposes them beside the server's."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from realtime.server.metrics import REGISTRY

readings_ingested = Counter(
    "vendhub_telemetry_readings_ingested_total", "Telemetry readings stored", registry=REGISTRY,
)
ingest_seconds = Histogram(
    "vendhub_telemetry_ingest_seconds", "Time to validate, store and judge one batch",
    registry=REGISTRY, buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
