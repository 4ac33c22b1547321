"""Field checks of telemetry ingestion: a JSON value a device sent, judged without raising.

Every check answers for any JSON value (a list where a string belongs, an integer too
large for a float, a date that overflows when converted to UTC, a string PostgreSQL cannot
store): a bad value becomes a message at its path in a `Collector`, never an exception that
would turn into a 500 after part of the work was done.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

#: Bad fields named in one 400; a batch that is wrong everywhere says so without 50 kB.
MAX_REPORTED_FIELDS = 50
#: Characters of a rejected value quoted back in a message.
MAX_QUOTED = 40
UNSTORABLE_TEXT = ("Contains a NUL character or an unpaired surrogate, which cannot be "
                   "stored as text.")


class Collector:
    """The bad fields of one request: path -> messages, at most MAX_REPORTED_FIELDS paths."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}
        self.more = 0

    def add(self, path: str, message: str) -> None:
        path = path or "non_field_errors"
        if path not in self.errors and len(self.errors) >= MAX_REPORTED_FIELDS:
            self.more += 1
            return
        self.errors.setdefault(path, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def report(self) -> dict[str, list[str]]:
        if self.more:
            return {**self.errors, "non_field_errors": [
                *self.errors.get("non_field_errors", []),
                f"... and {self.more} more invalid fields not listed."]}
        return self.errors


def is_storable_text(value: str) -> bool:
    """Whether PostgreSQL can store `value` as text: no NUL, and encodable to UTF-8 (a JSON
    `\\ud800` escape decodes to an unpaired surrogate, which UTF-8 cannot represent)."""
    if "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def join(prefix: str, name: str) -> str:
    """The path of `name` under `prefix`. A field name that UTF-8 cannot encode (a device may
    send any key) is shown with backslash escapes, so that the 400 itself can be encoded."""
    if not is_storable_text(name):
        name = name.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    return f"{prefix}.{name}" if prefix and not name.startswith("[") else f"{prefix}{name}"


def quoted(value: Any) -> str:
    """`value` for a message: its repr (which escapes NUL and surrogates), shortened."""
    shown = repr(value)
    return shown if len(shown) <= MAX_QUOTED else f"{shown[:MAX_QUOTED - 3]}..."


def is_number(value: Any) -> bool:
    """A finite JSON number. An integer beyond the float range is not one (JSON allows
    thousands of digits; `math.isfinite` would raise OverflowError on it)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int) and abs(value) <= sys.float_info.max


def is_choice(value: Any, choices: Collection[str]) -> bool:
    """`value` is one of `choices` (strings). Lists and objects are unhashable: a set
    membership test on them would raise TypeError."""
    return isinstance(value, str) and value in choices


def choice_message(kind: str, value: Any, choices: Collection[str]) -> str:
    allowed = ", ".join(sorted(choices))
    if not isinstance(value, str):
        return f"Expected a {kind} string: one of {allowed}."
    return f"Unknown {kind} {quoted(value)}: one of {allowed}."


def parse_datetime(value: Any, path: str, out: Collector) -> datetime | None:
    """An ISO 8601 date-time with a timezone, in UTC; None (and a message) otherwise."""
    if not isinstance(value, str):
        out.add(path, "Expected an ISO 8601 date-time string.")
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        out.add(path, "Not an ISO 8601 date-time.")
        return None
    if parsed.tzinfo is None:
        out.add(path, "Include a timezone, e.g. 2026-03-01T09:30:00Z.")
        return None
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:00:00+14:00 is before year 1 in UTC, 9999-12-31T23:59-14:00 after 9999.
        out.add(path, "Out of the range of dates (years 1 to 9999 in UTC).")
        return None
