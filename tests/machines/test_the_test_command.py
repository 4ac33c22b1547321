"""README's test command (`make test` -> scripts/run-tests.sh) runs against PostgreSQL and
Redis; under CI=true an unreachable one fails the run loudly instead of being skipped."""

from __future__ import annotations

import os
import subprocess

from tests.conftest import require_service
from tests.live import ROOT, free_port

SCRIPT = ROOT / "scripts" / "run-tests.sh"


def run_script(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)


def test_ci_fails_loudly_when_postgresql_is_unreachable():
    nowhere = f"postgres://postgres@127.0.0.1:{free_port()}/vendhub"
    result = run_script("--version", CI="true", DATABASE_URL=nowhere)
    assert result.returncode == 1
    assert f"DATABASE_URL={nowhere} is not reachable" in result.stderr


def test_ci_fails_loudly_when_redis_is_unreachable():
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    result = run_script("--version", CI="true", REDIS_URL=nowhere)
    assert result.returncode == 1
    assert f"REDIS_URL={nowhere} is not reachable" in result.stderr


def test_outside_ci_an_unreachable_service_falls_back_with_a_warning():
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    result = run_script("--version", CI="false", REDIS_URL=nowhere)
    assert result.returncode == 0, result.stderr
    assert "WARNING: REDIS_URL" in result.stderr
    assert "REDIS_URL=in-memory layer" in result.stdout


def test_reachable_services_are_used():
    require_service("DATABASE_URL", "PostgreSQL")
    require_service("REDIS_URL", "Redis")
    result = run_script("--version", CI="true")
    assert result.returncode == 0, result.stderr
    assert "Tests against DATABASE_URL=postgres://" in result.stdout
    assert "REDIS_URL=redis://" in result.stdout
