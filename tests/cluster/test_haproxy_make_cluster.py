"""`make cluster` brings the whole set up (HAProxy, three uvicorn processes, the watchdog,
Redis master, replica and three sentinels), serves the site through HAProxy, and a Ctrl+C
stops every process it started, promptly, leaving none behind."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time

import httpx
import pytest

from tests import live
from tests.cluster.support import TEST_ENV, alive, processes_under, require_cluster_binaries
from tests.conftest import unavailable

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

READY_WITHIN = 150.0
#: Ctrl+C to nothing left running: the workers, HAProxy and three servers get SIGTERM in
#: turn (each has up to 10 s before SIGKILL), Redis last.
STOPPED_WITHIN = 40.0
#: make, its shell's python, haproxy, 3 uvicorn, watchdog, 2 redis-server, 3 sentinels.
AT_LEAST = 11


def lines_of(process: subprocess.Popen) -> queue.Queue:
    """The process's output lines, read by a thread (so that waits can be bounded)."""
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def wait_for_line(lines: queue.Queue, text: str, timeout: float, seen: list[str]) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"{text!r} not printed within {timeout}s:\n"
                                 + "".join(seen)) from None
        if line is None:
            raise AssertionError("make cluster exited:\n" + "".join(seen))
        seen.append(line)
        if text in line:
            return


@pytest.mark.django_db(transaction=True)
def test_make_cluster_serves_through_haproxy_and_stops_every_process_on_ctrl_c(tmp_path):
    require_cluster_binaries()
    database_url = live.test_database_url()
    if not database_url.startswith("postgres"):
        unavailable("make cluster needs PostgreSQL")
    port = live.free_port()
    env = {**os.environ, **TEST_ENV, "DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"}
    make = subprocess.Popen(
        ["make", "--no-print-directory", "cluster", f"PORT={port}",
         f"CLUSTER_ARGS=--dir {tmp_path}"],
        cwd=live.ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # Its own process group: the terminal's Ctrl+C target. A terminal's shell runs it
        # with SIGINT at its default even when this suite runs with it ignored (CI started
        # in the background): so does the test.
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen: list[str] = []
    pids: set[int] = set()
    try:
        lines = lines_of(make)
        wait_for_line(lines, "Ctrl+C stops everything", READY_WITHIN, seen)
        response = httpx.get(f"http://127.0.0.1:{port}/login/", timeout=10)
        assert response.status_code == 200
        assert "VENDHUB_BACKEND" in httpx.get(
            f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling", timeout=10).cookies
        pids = processes_under(make.pid)
        assert len(pids) >= AT_LEAST, "".join(seen)

        started = time.monotonic()
        os.killpg(make.pid, signal.SIGINT)  # Ctrl+C in the terminal
        while alive(pids) and time.monotonic() - started < STOPPED_WITHIN:
            time.sleep(0.2)
        left = alive(pids)
        assert not left, f"still running {STOPPED_WITHIN}s after Ctrl+C: {sorted(left)}"
        make.wait(10)
        wait_for_line(lines, "Cluster stopped.", 5, seen)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    finally:
        # Whatever a failed assertion left running goes now.
        for pid in alive(pids | {make.pid}):
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        make.wait(10)
