"""Where driving distances and times come from: a pluggable source behind one protocol.

The default, `HaversineSource`, needs no service: the great-circle distance times a road
factor (streets are not straight lines), driven at an average speed. A deployment with a
routing engine sets `OPERATIONS["DISTANCE_SOURCE"] = "osrm"` and
`OPERATIONS["OSRM_URL"] = "http://osrm:5000"`: `OsrmSource` asks its table service for the
whole matrix in one request (real streets, one-way roads, the river crossings). The planner
runs in a command, a manager's request or the nightly sweep, never per reading, so one HTTP
request per plan is acceptable there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import httpx
from django.conf import settings

#: (latitude, longitude) in degrees.
Point = tuple[float, float]
#: (metres, seconds): matrix[i][j] is from point i to point j.
Matrices = tuple[list[list[int]], list[list[int]]]

EARTH_RADIUS_M = 6_371_008.8


class DistanceSource(Protocol):
    def matrices(self, points: Sequence[Point]) -> Matrices:
        """Driving distance (m) and time (s) between every two of `points`."""


def haversine_m(a: Point, b: Point) -> float:
    """Great-circle distance in metres."""
    lat1, lng1, lat2, lng2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2)
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


class HaversineSource:
    """Straight-line distance × `road_factor`, at `speed_kmh`."""

    def __init__(self, road_factor: float = 1.35, speed_kmh: float = 30.0) -> None:
        if road_factor < 1 or speed_kmh <= 0:
            raise ValueError("road_factor must be >= 1 and speed_kmh > 0")
        self.road_factor = float(road_factor)
        self.metres_per_second = float(speed_kmh) * 1000 / 3600

    def matrices(self, points: Sequence[Point]) -> Matrices:
        n = len(points)
        distance = [[0] * n for _ in range(n)]
        duration = [[0] * n for _ in range(n)]
        for i in range(n):
            for j in range(i + 1, n):
                metres = haversine_m(points[i], points[j]) * self.road_factor
                distance[i][j] = distance[j][i] = round(metres)
                duration[i][j] = duration[j][i] = round(metres / self.metres_per_second)
        return distance, duration


class OsrmSource:
    """An OSRM server's table service (`/table/v1/driving/...`): road distances and times.

    Not used by the tests (no server there); documented in the README."""

    def __init__(self, base_url: str, *, profile: str = "driving", timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.profile = profile
        self.timeout = timeout

    def matrices(self, points: Sequence[Point]) -> Matrices:
        if not points:
            return [], []
        # OSRM takes longitude first.
        coordinates = ";".join(f"{lng:.6f},{lat:.6f}" for lat, lng in points)
        response = httpx.get(f"{self.base_url}/table/v1/{self.profile}/{coordinates}",
                             params={"annotations": "distance,duration"}, timeout=self.timeout)
        response.raise_for_status()
        body = response.json()
        if body.get("code") != "Ok":
            raise RuntimeError(f"OSRM table: {body.get('code')}: {body.get('message', '')}")
        return ([[round(value or 0) for value in row] for row in body["distances"]],
                [[round(value or 0) for value in row] for row in body["durations"]])


def distance_source(*, road_factor: float, speed_kmh: float) -> DistanceSource:
    """The source `OPERATIONS["DISTANCE_SOURCE"]` names ("haversine", the default, with the
    organization's road factor and speed; or "osrm" at `OPERATIONS["OSRM_URL"]`)."""
    options = getattr(settings, "OPERATIONS", {}) or {}
    name = options.get("DISTANCE_SOURCE", "haversine")
    if name == "haversine":
        return HaversineSource(road_factor, speed_kmh)
    if name == "osrm":
        return OsrmSource(options["OSRM_URL"])
    raise ValueError(f"OPERATIONS['DISTANCE_SOURCE'] must be 'haversine' or 'osrm', not {name!r}")
