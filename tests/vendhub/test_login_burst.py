"""A burst of wrong logins leaves everyone else's requests working: a live server on
PostgreSQL with a small connection pool and real PBKDF2 hashing (no FAST_PASSWORD_HASHING),
hammered with concurrent wrong logins while a signed-in user reads machines over REST and a
device posts telemetry."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from django.contrib.auth.hashers import make_password

from telemetry.device_keys import issue_device_key
from tests.conftest import require_postgresql
from tests.factories import PASSWORD
from tests.live import LiveServer
from tests.telemetry.conftest import reading_body

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

#: The server's pool: a handful of connections, as a small deployment has.
POOL = {"DB_POOL_MIN_SIZE": "1", "DB_POOL_MAX_SIZE": "4", "DB_POOL_TIMEOUT": "3"}
REAL_HASHING = {"FAST_PASSWORD_HASHING": "0"}


def own_counters() -> dict[str, str]:
    """A Redis key prefix of the server's own (throttle counters included): the burst of an
    earlier run in the same minute must not count against this one."""
    return {"CHANNEL_LAYER_PREFIX": f"vendhub-burst-{uuid.uuid4().hex[:12]}"}


@dataclass
class Fleet:
    machine: object
    device_key: str


@pytest.fixture
def fleet(transactional_db, personas, redis_url) -> Fleet:
    require_postgresql("the connection pool is PostgreSQL's")
    # The server hashes with PBKDF2 only: the legitimate user's password must be one.
    personas.manager.password = make_password(PASSWORD, hasher="pbkdf2_sha256")
    personas.manager.save(update_fields=["password"])
    return Fleet(personas.machine, issue_device_key(machine=personas.machine).plaintext)


@dataclass
class Outcome:
    wrong_logins: Counter
    rest: Counter
    ingest: Counter
    seconds: float


async def burst(server: LiveServer, fleet: Fleet, *, wrong_logins: int,
                legitimate_rounds: int = 10) -> Outcome:
    """`wrong_logins` concurrent wrong logins; meanwhile, one REST read and one telemetry
    post every 0.2 s, `legitimate_rounds` times."""
    limits = httpx.Limits(max_connections=wrong_logins + 20)
    async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as http:
        tokens = await http.post("/api/v1/auth/token/",
                                 json={"username": "acme-manager", "password": PASSWORD})
        assert tokens.status_code == 200, tokens.text
        bearer = {"Authorization": f"Bearer {tokens.json()['access']}"}
        device = {"Authorization": f"Device {fleet.device_key}"}
        start = datetime.now(UTC) - timedelta(minutes=5)

        async def wrong_login(n: int) -> int:
            # Half at a real account, half at unknown ones (which cost a hash too).
            username = "acme-operator" if n % 2 else f"intruder-{n}"
            response = await http.post("/api/v1/auth/token/",
                                       json={"username": username, "password": f"guess-{n}"})
            return response.status_code

        async def legitimate(n: int) -> tuple[int, int]:
            await asyncio.sleep(0.2 * n)
            machines = await http.get("/api/v1/machines/", headers=bearer)
            body = reading_body(fleet.machine, at=start + timedelta(seconds=n))
            ingest = await http.post("/api/v1/telemetry/", json=body, headers=device)
            return machines.status_code, ingest.status_code

        began = time.monotonic()
        logins, legit = await asyncio.gather(
            asyncio.gather(*(wrong_login(n) for n in range(wrong_logins))),
            asyncio.gather(*(legitimate(n) for n in range(legitimate_rounds))),
        )
        return Outcome(Counter(logins), Counter(rest for rest, _ in legit),
                       Counter(ingest for _, ingest in legit), time.monotonic() - began)


async def test_a_burst_of_wrong_logins_leaves_rest_and_ingestion_working(fleet):
    """The production rates: most of the burst is turned away before any hashing."""
    env = {**POOL, **REAL_HASHING, **own_counters(),
           "LOGIN_RATE_PER_ADDRESS": "20/min", "LOGIN_RATE_PER_USERNAME": "10/min"}
    with LiveServer(env=env) as server:
        outcome = await burst(server, fleet, wrong_logins=100)
        log = server.log()
    assert outcome.rest == {200: 10}, (outcome, log[-3000:])
    assert outcome.ingest == {201: 10}, (outcome, log[-3000:])
    assert set(outcome.wrong_logins) == {401, 429}, outcome
    # The legitimate login counted against the address's budget of 20.
    assert outcome.wrong_logins[401] <= 19, outcome


async def test_password_hashing_holds_no_pooled_connection(fleet):
    """No throttle: more concurrent password checks than pooled connections, each taking
    seconds of CPU on a busy machine, and the pool still serves the other requests."""
    env = {**POOL, **REAL_HASHING, **own_counters(), "DB_POOL_MAX_SIZE": "2"}
    with LiveServer(env=env) as server:
        outcome = await burst(server, fleet, wrong_logins=16)
        log = server.log()
    assert outcome.wrong_logins == {401: 16}, (outcome, log[-3000:])
    assert outcome.rest == {200: 10}, (outcome, log[-3000:])
    assert outcome.ingest == {201: 10}, (outcome, log[-3000:])
