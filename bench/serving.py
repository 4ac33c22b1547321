"""A product server for the standalone benchmarks (bench/map_load.py, bench/sales_ingest.py):
started as a child process on a free port, waited for, and stopped however the run ends."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def serving(argv: list[str], *, env: dict, log_name: str, probe: str,
            ready_timeout: float = 30) -> Iterator[subprocess.Popen]:
    """Run `argv` (a server listening where `probe`, a URL it answers, points), its output in
    test-artifacts/`log_name`; yield once it answers (or `ready_timeout` passed)."""
    import httpx

    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    with open(ROOT / "test-artifacts" / log_name, "wb") as log:
        server = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + ready_timeout
            while time.monotonic() < deadline:
                try:
                    httpx.get(probe, timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.3)
            yield server
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()


def git_head() -> str:
    return subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True).stdout.strip()
