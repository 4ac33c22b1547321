"""The wire shapes of the telemetry endpoints.

Ingestion parses with `parse_telemetry`, a hand-written validator (a DRF serializer costs
~100 µs per nested reading, too slow for thousands of readings a second). The DRF
serializers below document the same shapes in the OpenAPI schema; tests keep both in step.

Errors name each bad field by its path: `humidity` for a single reading,
`[3].bunkers[0].currentLevel` inside a batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from rest_framework import serializers

from machines.models import MachineStatus
from telemetry.models import Severity
from telemetry.rules import Reading, ReportedError
from telemetry.validation import (
    UNSTORABLE_TEXT,
    Collector,
    choice_message,
    is_choice,
    is_number,
    is_storable_text,
    join,
    parse_datetime,
)

READING_FIELDS = frozenset({"machineId", "timestamp", "status", "temperature", "humidity",
                            "bunkers", "errors", "lastSale", "uptime"})
#: The `BunkerLevel` shape; only bunkerId and currentLevel are read, the rest is derived.
BUNKER_FIELDS = frozenset({"bunkerId", "currentLevel", "ingredientId", "ingredientName",
                           "maxLevel", "percentage", "lowLevelAlert"})
ERROR_FIELDS = frozenset({"code", "message", "severity", "occurredAt"})
STATUSES = frozenset(MachineStatus.values)
SEVERITIES = frozenset(Severity.values)
TEMPERATURE_RANGE = (-60.0, 120.0)
MAX_BUNKERS = 64
MAX_ERRORS = 32
MAX_UPTIME = 2**53


class TelemetryRejected(Exception):
    """Invalid telemetry; `errors` maps each bad field's path to its messages (a 400)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


class ForeignMachine(Exception):
    """A reading names another machine than the device key's (a 403)."""


class _Limits:
    def __init__(self, *, now: datetime, max_clock_skew: timedelta, oldest: datetime | None):
        self.latest = now + max_clock_skew
        self.skew_seconds = int(max_clock_skew.total_seconds())
        self.oldest = oldest


def _parse_bunkers(value: Any, path: str, capacities: Mapping[str, int],
                   out: Collector) -> dict[str, int]:
    if not isinstance(value, list):
        out.add(path, "Expected a list of bunker levels.")
        return {}
    if len(value) > MAX_BUNKERS:
        out.add(path, f"At most {MAX_BUNKERS} bunkers.")
        return {}
    levels: dict[str, int] = {}
    for index, item in enumerate(value):
        # The fast path: the usual, valid item (canonical bunker id, integer grams).
        if type(item) is dict and item.keys() <= BUNKER_FIELDS:
            bunker_id, level = item.get("bunkerId"), item.get("currentLevel")
            capacity = capacities.get(bunker_id) if type(bunker_id) is str else None
            if (capacity is not None and type(level) is int and 0 <= level <= capacity
                    and bunker_id not in levels):
                levels[bunker_id] = level
                continue
        _parse_bunker(item, f"{path}[{index}]", capacities, levels, out)
    return levels


def _parse_bunker(item: Any, here: str, capacities: Mapping[str, int], levels: dict[str, int],
                  out: Collector) -> None:
    if not isinstance(item, dict):
        out.add(here, "Expected a bunker level object.")
        return
    for name in item.keys() - BUNKER_FIELDS:
        out.add(join(here, name), "Unknown field.")
    bunker_id = _bunker_id(item.get("bunkerId"), join(here, "bunkerId"), capacities, out)
    level = item.get("currentLevel")
    level_path = join(here, "currentLevel")
    if "currentLevel" not in item:
        out.add(level_path, "This field is required.")
    elif not is_number(level) or level < 0:
        out.add(level_path, "Expected a number of grams, 0 or more.")
    elif bunker_id is not None and level > capacities[bunker_id]:
        out.add(level_path, f"Exceeds the bunker's capacity of {capacities[bunker_id]} g.")
    elif bunker_id is not None:
        if bunker_id in levels:
            out.add(join(here, "bunkerId"), "Bunker reported twice.")
        levels[bunker_id] = round(level)


def _bunker_id(value: Any, path: str, capacities: Mapping[str, int],
               out: Collector) -> str | None:
    if value is None:
        out.add(path, "This field is required.")
        return None
    bunker_id = _uuid(value)
    if bunker_id is None:
        out.add(path, "Not a UUID.")
        return None
    if bunker_id not in capacities:
        out.add(path, "Not a bunker of this machine.")
        return None
    return bunker_id


def _uuid(value: Any) -> str | None:
    """The canonical form of a UUID string; None for anything else (only a string is read
    as one: `uuid.UUID` would also take the digits of a 32-digit JSON number)."""
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def _parse_errors(value: Any, path: str, default_at: datetime | None, limits: _Limits,
                  out: Collector) -> tuple[ReportedError, ...]:
    if not isinstance(value, list):
        out.add(path, "Expected a list of errors.")
        return ()
    if len(value) > MAX_ERRORS:
        out.add(path, f"At most {MAX_ERRORS} errors.")
        return ()
    errors: dict[str, ReportedError] = {}
    for index, item in enumerate(value):
        here = f"{path}[{index}]"
        if not isinstance(item, dict):
            out.add(here, "Expected an error object.")
            continue
        for name in item.keys() - ERROR_FIELDS:
            out.add(join(here, name), "Unknown field.")
        code, message = item.get("code"), item.get("message", "")
        severity = item.get("severity", Severity.ERROR)
        ok = True
        code = code.strip() if isinstance(code, str) else code
        if not isinstance(code, str) or not code or len(code) > 64:
            out.add(join(here, "code"), "Expected a non-empty string of at most 64 characters.")
            ok = False
        elif not is_storable_text(code):
            out.add(join(here, "code"), UNSTORABLE_TEXT)
            ok = False
        elif code in errors:
            out.add(join(here, "code"), "Error code reported twice.")
            ok = False
        if not isinstance(message, str) or len(message) > 500:
            out.add(join(here, "message"), "Expected a string of at most 500 characters.")
            ok = False
        elif not is_storable_text(message):
            out.add(join(here, "message"), UNSTORABLE_TEXT)
            ok = False
        if not is_choice(severity, SEVERITIES):
            out.add(join(here, "severity"), choice_message("severity", severity, SEVERITIES))
            ok = False
        occurred_at = default_at
        if item.get("occurredAt") is not None:
            occurred_at = parse_datetime(item["occurredAt"], join(here, "occurredAt"), out)
            if occurred_at is not None and occurred_at > limits.latest:
                out.add(join(here, "occurredAt"), "In the future.")
                ok = False
        if ok and occurred_at is not None:
            errors[code] = ReportedError(code, message, severity, occurred_at)
    return tuple(errors.values())


def _parse_reading(item: Any, path: str, *, machine_id: str, capacities: Mapping[str, int],
                   limits: _Limits, out: Collector) -> Reading | None:
    if not isinstance(item, dict):
        out.add(path, "Expected a reading object.")
        return None
    before = len(out.errors) + out.more
    for name in sorted(item.keys() - READING_FIELDS):
        out.add(join(path, name), "Unknown field.")
    for name in ("machineId", "timestamp", "status"):
        if name not in item:
            out.add(join(path, name), "This field is required.")

    if "machineId" in item:
        named = _uuid(item["machineId"])
        if named is None:
            out.add(join(path, "machineId"), "Not a UUID.")
        else:
            if named != machine_id:
                raise ForeignMachine(
                    f"{path or 'The reading'} is for machine {named}; this device key "
                    f"belongs to machine {machine_id}."
                )

    timestamp = None
    if "timestamp" in item:
        timestamp = parse_datetime(item["timestamp"], join(path, "timestamp"), out)
        if timestamp is not None and timestamp > limits.latest:
            out.add(join(path, "timestamp"),
                    f"More than {limits.skew_seconds} s in the future: check the device clock.")
        elif timestamp is not None and limits.oldest and timestamp < limits.oldest:
            out.add(join(path, "timestamp"), "Older than the telemetry retention period.")

    status = item.get("status")
    if "status" in item and not is_choice(status, STATUSES):
        out.add(join(path, "status"), choice_message("status", status, STATUSES))

    temperature = item.get("temperature")
    low, high = TEMPERATURE_RANGE
    if temperature is not None and (not is_number(temperature) or not low <= temperature <= high):
        out.add(join(path, "temperature"),
                f"Expected a number of °C between {low:g} and {high:g}.")
    humidity = item.get("humidity")
    if humidity is not None and (not is_number(humidity) or not 0 <= humidity <= 100):
        out.add(join(path, "humidity"), "Expected a percentage between 0 and 100.")
    uptime = item.get("uptime", 0)
    if not isinstance(uptime, int) or isinstance(uptime, bool) or not 0 <= uptime < MAX_UPTIME:
        out.add(join(path, "uptime"), "Expected a whole number of seconds, 0 or more.")

    last_sale = None
    if item.get("lastSale") is not None:
        last_sale = parse_datetime(item["lastSale"], join(path, "lastSale"), out)
        if last_sale is not None and last_sale > limits.latest:
            out.add(join(path, "lastSale"), "In the future.")

    levels = _parse_bunkers(item.get("bunkers", []), join(path, "bunkers"), capacities, out)
    errors = _parse_errors(item.get("errors", []), join(path, "errors"), timestamp, limits, out)

    if len(out.errors) + out.more != before:
        return None
    return Reading(
        timestamp=timestamp, status=status,
        temperature=None if temperature is None else float(temperature),
        humidity=None if humidity is None else float(humidity),
        uptime=uptime, last_sale=last_sale, bunker_levels=levels, errors=errors,
    )


def parse_telemetry(data: Any, *, machine_id: str, bunker_capacities: Mapping[str, int],
                    now: datetime, max_batch: int, max_clock_skew: timedelta,
                    oldest: datetime | None = None) -> list[Reading]:
    """Validate a body holding one reading (an object) or a batch (a list of them).

    `bunker_capacities` maps the machine's bunker ids (str) to their capacity in grams.
    Raises ForeignMachine when a reading names another machine than `machine_id`, and
    TelemetryRejected with every bad field otherwise. Returns the readings in body order.
    """
    out = Collector()
    limits = _Limits(now=now, max_clock_skew=max_clock_skew, oldest=oldest)
    machine_id = str(machine_id)
    if isinstance(data, dict):
        items, paths = [data], [""]
    elif isinstance(data, list):
        if not data:
            raise TelemetryRejected({"non_field_errors": ["Empty batch: send 1 or more readings."]})
        if len(data) > max_batch:
            raise TelemetryRejected(
                {"non_field_errors": [f"At most {max_batch} readings per request."]})
        items, paths = data, [f"[{i}]" for i in range(len(data))]
    else:
        raise TelemetryRejected(
            {"non_field_errors": ["Expected a reading object or a list of readings."]})

    readings: list[Reading] = []
    seen: dict[datetime, str] = {}
    for item, path in zip(items, paths, strict=True):
        reading = _parse_reading(item, path, machine_id=machine_id, capacities=bunker_capacities,
                                 limits=limits, out=out)
        if reading is None:
            continue
        if reading.timestamp in seen:
            out.add(join(path, "timestamp"), f"Same timestamp as {seen[reading.timestamp]}.")
            continue
        seen[reading.timestamp] = path
        readings.append(reading)
    if out:
        raise TelemetryRejected(out.report())
    return readings


# -- OpenAPI documentation of the same shapes --------------------------------------------


class BunkerLevelInSerializer(serializers.Serializer):
    bunkerId = serializers.UUIDField(help_text="A bunker of this machine.")
    currentLevel = serializers.IntegerField(min_value=0, help_text="Grams, up to the capacity.")


class MachineErrorInSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64)
    message = serializers.CharField(max_length=500, required=False, allow_blank=True)
    severity = serializers.ChoiceField(choices=Severity.choices, default=Severity.ERROR)
    occurredAt = serializers.DateTimeField(required=False, help_text="Default: the timestamp.")


class TelemetryReadingInSerializer(serializers.Serializer):
    """One `MachineTelemetry` reading as a device posts it."""

    machineId = serializers.UUIDField(help_text="Must be the device key's machine.")
    timestamp = serializers.DateTimeField(
        help_text="ISO 8601 with a timezone; (machineId, timestamp) identifies the reading: "
                  "a retry with the same timestamp is ignored.")
    status = serializers.ChoiceField(choices=MachineStatus.choices)
    temperature = serializers.FloatField(required=False, allow_null=True, min_value=-60,
                                         max_value=120, help_text="°C")
    humidity = serializers.FloatField(required=False, allow_null=True, min_value=0,
                                      max_value=100, help_text="%")
    bunkers = BunkerLevelInSerializer(many=True, required=False)
    errors = MachineErrorInSerializer(
        many=True, required=False,
        help_text="The errors active now: new codes open a MachineError, codes no longer "
                  "reported resolve theirs.")
    lastSale = serializers.DateTimeField(required=False, allow_null=True)
    uptime = serializers.IntegerField(required=False, min_value=0, help_text="Seconds.")


class IngestResultSerializer(serializers.Serializer):
    machineId = serializers.UUIDField()
    received = serializers.IntegerField(help_text="Readings in the request.")
    accepted = serializers.IntegerField(help_text="New readings stored.")
    duplicates = serializers.IntegerField(help_text="Readings already stored (retries).")


class StatsSerializer(serializers.Serializer):
    min = serializers.FloatField(allow_null=True)
    avg = serializers.FloatField(allow_null=True)
    max = serializers.FloatField(allow_null=True)


class HistoryBunkerSerializer(serializers.Serializer):
    bunkerId = serializers.UUIDField()
    ingredientName = serializers.CharField()
    maxLevel = serializers.IntegerField()


class HistoryPointSerializer(serializers.Serializer):
    timestamp = serializers.DateTimeField(help_text="Start of the bucket.")
    count = serializers.IntegerField(help_text="Readings in the bucket.")
    temperature = StatsSerializer()
    humidity = StatsSerializer()
    bunkers = serializers.DictField(child=StatsSerializer(), help_text="By bunker id, grams.")


# `from` is a Python keyword, hence type() instead of a class statement.
HistorySerializer = type("HistorySerializer", (serializers.Serializer,), {
    "__doc__": "Downsampled readings of one machine between `from` and `to`.",
    "__module__": __name__,
    "machineId": serializers.UUIDField(),
    "from": serializers.DateTimeField(help_text="Start of the range (inclusive)."),
    "to": serializers.DateTimeField(help_text="End of the range (exclusive)."),
    "bucket": serializers.IntegerField(help_text="Bucket width in seconds."),
    "bunkers": HistoryBunkerSerializer(many=True),
    "points": HistoryPointSerializer(many=True),
})
