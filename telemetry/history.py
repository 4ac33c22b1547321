"""Downsampled telemetry history: min/avg/max per time bucket, computed in SQL.

Buckets are aligned to the Unix epoch (`floor(epoch / bucket) * bucket`), so a 1-day
bucket is a UTC day. Two queries per request whatever the range: one for temperature and
humidity, one for the bunker levels kept as JSON in each reading. PostgreSQL and SQLite
each get their own SQL; other databases raise `HistoryUnsupported`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction

from machines.models import Bunker, Machine
from telemetry.models import TelemetryReading
from telemetry.selectors import iso8601

#: Width ladder for an automatic bucket: the first giving at most TARGET_POINTS points.
TARGET_POINTS = 300
MAX_POINTS = 2000
MIN_BUCKET = 10
#: Widest bucket: 30 days. Buckets are aligned to the epoch, so a wider one (a year, or
#: 10**12 s) stamps its one point years before the range, down to 1970.
MAX_BUCKET = 30 * 86400
AUTO_BUCKETS = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400,
                MAX_BUCKET)

#: ASCII digits only: `\d` also matches other scripts' digits.
_DURATION = re.compile(r"^([0-9]+)\s*([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_TOO_WIDE = f"at most {MAX_BUCKET} seconds ({MAX_BUCKET // 86400}d)."


class HistoryUnsupported(Exception):
    """The database has no history query (PostgreSQL and SQLite only)."""


def parse_bucket(value: str) -> int:
    """`300`, `30s`, `5m`, `1h`, `1d` -> seconds. Raises ValueError."""
    match = _DURATION.match(value.strip().lower())
    if not match:
        raise ValueError("Expected seconds or a duration like 30s, 5m, 1h, 1d.")
    digits, unit = match.groups()
    if len(digits) > len(str(MAX_BUCKET)):  # int() refuses 4,300 digits and more
        raise ValueError(_TOO_WIDE)
    return int(digits) * _UNITS[unit]


def auto_bucket(start: datetime, end: datetime) -> int:
    span = (end - start).total_seconds()
    for width in AUTO_BUCKETS:
        if span / width <= TARGET_POINTS:
            return width
    return AUTO_BUCKETS[-1]


def check_range(start: datetime, end: datetime, bucket: int) -> None:
    """Raises ValueError (with the offending parameter first) for a range we refuse."""
    if end <= start:
        raise ValueError("to: must be after from.")
    if bucket < MIN_BUCKET:
        raise ValueError(f"bucket: at least {MIN_BUCKET} seconds.")
    if bucket > MAX_BUCKET:
        raise ValueError(f"bucket: {_TOO_WIDE}")
    if (end - start).total_seconds() / MAX_BUCKET > MAX_POINTS:
        raise ValueError(f"from: the range is too long (at most {MAX_POINTS} buckets of "
                         f"{MAX_BUCKET // 86400} days).")
    if (end - start).total_seconds() / bucket > MAX_POINTS:
        raise ValueError(f"bucket: too small for this range (at most {MAX_POINTS} buckets).")


_SQL = {
    "postgresql": {
        "bucket": "floor(extract(epoch from r.{ts}) / %s)::bigint",
        "bunkers_from": "CROSS JOIN LATERAL jsonb_array_elements(r.{levels}) AS e(value)",
        "bunker_id": "e.value->>'bunkerId'",
        "bunker_level": "(e.value->>'currentLevel')::float",
    },
    "sqlite": {
        "bucket": "CAST(strftime('%%s', r.{ts}) AS INTEGER) / %s",
        "bunkers_from": ", json_each(r.{levels}) AS e",
        "bunker_id": "json_extract(e.value, '$.bunkerId')",
        "bunker_level": "CAST(json_extract(e.value, '$.currentLevel') AS REAL)",
    },
}


def _sql() -> dict[str, str]:
    try:
        dialect = _SQL[connection.vendor]
    except KeyError:
        raise HistoryUnsupported(
            f"telemetry history needs PostgreSQL or SQLite, not {connection.vendor}"
        ) from None
    meta = TelemetryReading._meta
    qn = connection.ops.quote_name
    names = {"ts": qn(meta.get_field("timestamp").column),
             "levels": qn(meta.get_field("bunker_levels").column)}
    return {key: value.format(**names) for key, value in dialect.items()} | {
        "table": qn(meta.db_table),
        "machine": qn(meta.get_field("machine").column),
        "ts": names["ts"],
        "temperature": qn(meta.get_field("temperature").column),
        "humidity": qn(meta.get_field("humidity").column),
    }


def _stats(low, mean, high) -> dict:
    return {"min": low, "avg": None if mean is None else round(mean, 2), "max": high}


def telemetry_history(*, machine: Machine, start: datetime, end: datetime,
                      bucket: int, bunkers: Iterable[Bunker] | None = None) -> dict:
    """Readings of `machine` with start <= timestamp < end, downsampled to `bucket` seconds.

    Empty buckets are omitted. Bunker statistics are keyed by bunker id.
    """
    sql = _sql()
    where = f"r.{sql['machine']} = %s AND r.{sql['ts']} >= %s AND r.{sql['ts']} < %s"
    ts_field = TelemetryReading._meta.get_field("timestamp")
    args = [
        Machine._meta.pk.get_db_prep_value(machine.pk, connection),
        ts_field.get_db_prep_value(start, connection),
        ts_field.get_db_prep_value(end, connection),
    ]
    t, h = f"r.{sql['temperature']}", f"r.{sql['humidity']}"
    environment = f"""
        SELECT {sql['bucket']} AS b, COUNT(*), MIN({t}), AVG({t}), MAX({t}),
               MIN({h}), AVG({h}), MAX({h})
        FROM {sql['table']} r WHERE {where} GROUP BY b ORDER BY b"""
    levels = f"""
        SELECT {sql['bucket']} AS b, {sql['bunker_id']} AS bunker,
               MIN({sql['bunker_level']}), AVG({sql['bunker_level']}), MAX({sql['bunker_level']})
        FROM {sql['table']} r {sql['bunkers_from']} WHERE {where} GROUP BY b, bunker"""
    points: dict[int, dict] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The planner guesses 100 bunkers per reading (jsonb_array_elements), which
            # puts the levels query over the JIT threshold: compiling it costs more (about
            # 40-90 ms) than the query itself on a day or a week of one machine.
            cursor.execute("SET LOCAL jit = off")
        cursor.execute(environment, [bucket, *args])
        for b, count, t_min, t_avg, t_max, h_min, h_avg, h_max in cursor.fetchall():
            points[int(b)] = {
                "timestamp": iso8601(datetime.fromtimestamp(int(b) * bucket, UTC)),
                "count": count,
                "temperature": _stats(t_min, t_avg, t_max),
                "humidity": _stats(h_min, h_avg, h_max),
                "bunkers": {},
            }
        cursor.execute(levels, [bucket, *args])
        for b, bunker_id, low, mean, high in cursor.fetchall():
            if int(b) in points and bunker_id:
                points[int(b)]["bunkers"][bunker_id] = _stats(low, mean, high)
    if bunkers is None:
        bunkers = machine.bunkers.select_related("ingredient")
    return {
        "machineId": str(machine.pk),
        "from": iso8601(start),
        "to": iso8601(end),
        "bucket": bucket,
        "bunkers": [
            {"bunkerId": str(b.pk), "ingredientName": b.ingredient.name,
             "maxLevel": b.capacity_grams}
            for b in sorted(bunkers, key=lambda b: b.ingredient.name)
        ],
        "points": [points[b] for b in sorted(points)],
    }


def default_range(now: datetime) -> tuple[datetime, datetime]:
    return now - timedelta(hours=24), now
