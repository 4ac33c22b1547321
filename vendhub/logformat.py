"""The log line format: an ISO 8601 UTC timestamp with `Z`, so lines from several processes
and servers compare without knowing their time zones."""

from __future__ import annotations

import logging
from datetime import UTC, datetime


class UTCFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
