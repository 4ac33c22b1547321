"""Sales settings, read through one accessor with defaults (see vendhub/settings.py)."""

from __future__ import annotations

from django.conf import settings

#: Days of single vends kept. The reports read the daily rollups, which are kept for good;
#: the vends themselves feed what looks back weeks at most (cash since the last collection,
#: audits' reconciliation, forecasts, "stopped selling"). 400 days keep a year-on-year
#: comparison of any day with a month to spare.
DEFAULT_VEND_RETENTION_DAYS = 400


def vend_retention_days() -> int:
    return int(getattr(settings, "SALES_VEND_RETENTION_DAYS", DEFAULT_VEND_RETENTION_DAYS))
