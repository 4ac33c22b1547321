"""Telemetry settings, read through one accessor with defaults (see vendhub/settings.py)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class TelemetrySettings:
    #: Readings accepted in one `POST /api/v1/telemetry/`.
    max_batch: int = 500
    #: `manage.py prune_telemetry` deletes readings older than this.
    retention_days: int = 90
    #: A machine silent for longer than its telemetry interval times this is offline.
    silence_factor: float = 2.0
    #: How far in the future a reading's timestamp may be (device clocks drift).
    max_clock_skew_seconds: int = 300
    #: An environment episode ends when the value drops this far under the limit, so a
    #: sensor hovering around the limit does not start a new episode every reading.
    temperature_hysteresis: float = 1.0
    humidity_hysteresis: float = 2.0


def telemetry_settings() -> TelemetrySettings:
    defaults = TelemetrySettings()
    return TelemetrySettings(
        max_batch=int(getattr(settings, "TELEMETRY_MAX_BATCH", defaults.max_batch)),
        retention_days=int(getattr(settings, "TELEMETRY_RETENTION_DAYS", defaults.retention_days)),
        silence_factor=float(getattr(settings, "WATCHDOG_SILENCE_FACTOR", defaults.silence_factor)),
        max_clock_skew_seconds=int(
            getattr(settings, "TELEMETRY_MAX_CLOCK_SKEW_SECONDS", defaults.max_clock_skew_seconds)
        ),
        temperature_hysteresis=float(
            getattr(settings, "TELEMETRY_TEMPERATURE_HYSTERESIS", defaults.temperature_hysteresis)
        ),
        humidity_hysteresis=float(
            getattr(settings, "TELEMETRY_HUMIDITY_HYSTERESIS", defaults.humidity_hysteresis)
        ),
    )
