"""Reference: how fast PostgreSQL takes telemetry rows from Python (psycopg 3), without the
application: per-row autocommit, `executemany` in batches, binary `COPY`. Writes to a
scratch table in the bench database that it creates and drops itself.

    python -m bench.refs.pg_ingest --url postgres://… --seconds 3
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
from psycopg.types.json import Jsonb

TABLE = "bench_scratch_readings"
COLUMNS = (
    "id",
    "machine_id",
    "timestamp",
    "status",
    "temperature",
    "humidity",
    "uptime_seconds",
    "bunker_levels",
)


def rows(n: int, start: int):
    machine = uuid.uuid4()
    base = datetime.now(UTC)
    for i in range(start, start + n):
        yield (
            uuid.uuid4(),
            machine,
            base + timedelta(milliseconds=i),
            "online",
            21.5,
            40.0,
            3600 + i,
            Jsonb([]),
        )


def per_row(conn, seconds: float) -> int:
    sql = f"INSERT INTO {TABLE} VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    n, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        for row in rows(50, n):
            conn.execute(sql, row)  # autocommit: one transaction per row
        n += 50
    return n


def executemany(conn, seconds: float, batch: int = 1000) -> int:
    sql = f"INSERT INTO {TABLE} VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    n, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(sql, list(rows(batch, n)))
        n += batch
    return n


def copy(conn, seconds: float, batch: int = 5000) -> int:
    n, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy(f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)") as cp:
                cp.set_types(
                    ["uuid", "uuid", "timestamptz", "text", "float8", "float8", "int8", "jsonb"]
                )
                for row in rows(batch, n):
                    cp.write_row(row)
        n += batch
    return n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    results = {}
    with psycopg.connect(args.url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(f"""CREATE TABLE {TABLE} (id uuid PRIMARY KEY, machine_id uuid NOT NULL,
            timestamp timestamptz NOT NULL, status varchar(16) NOT NULL, temperature float8,
            humidity float8, uptime_seconds bigint NOT NULL, bunker_levels jsonb NOT NULL,
            UNIQUE (machine_id, timestamp))""")
        try:
            for name, fn in (
                ("per-row autocommit", per_row),
                ("executemany ×1000", executemany),
                ("binary COPY", copy),
            ):
                t0 = time.monotonic()
                count = fn(conn, args.seconds)
                results[name] = round(count / (time.monotonic() - t0), 1)
        finally:
            conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
    print(orjson.dumps(results).decode())


if __name__ == "__main__":
    main()
