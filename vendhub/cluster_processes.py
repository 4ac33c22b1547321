"""The processes of `make cluster` (vendhub/cluster.py): each in a process group of its own,
its output in a log file, waited for until it answers, stopped with its children.

Plain subprocess and sockets, no Django: the cluster starts Redis before any Django process
could reach it.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


def _ephemeral_ports() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port(host: str = "127.0.0.1") -> int:
    """A port free now, for a server started next, taken below the kernel's ephemeral
    range: a port the kernel hands out (`bind(0)`) is also what it gives the outgoing
    connections of every other process, and one of those took such a port between this
    check and the server's bind (a cluster test failed with "address already in use")."""
    low, _ = _ephemeral_ports()
    start = max(1024, low - 12_000)
    for _ in range(200):
        port = random.randrange(start, low)
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # the range is crowded: let the kernel choose
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], bool], *, timeout: float, what: str,
               process: Process | None = None, every: float = 0.1) -> None:
    """Poll `check` until it is true; fail with `what` (and the process's log tail) after
    `timeout` seconds, or at once when `process` exited."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and not process.running():
            raise RuntimeError(f"{process.name} exited while waiting for {what}:\n"
                               f"{process.log_tail()}")
        try:
            if check():
                return
        except OSError:
            pass
        if time.monotonic() >= deadline:
            tail = f":\n{process.log_tail()}" if process is not None else ""
            raise RuntimeError(f"{what}: not ready within {timeout:.0f} s{tail}")
        time.sleep(every)


def http_status(host: str, port: int, path: str, *, timeout: float = 2.0,
                headers: dict[str, str] | None = None) -> int:
    """The status code of a GET, 0 when nothing answers."""
    import http.client

    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        return conn.getresponse().status
    except OSError:
        return 0
    finally:
        conn.close()


@dataclass
class Process:
    """One process of the cluster, started in a new session (its own process group), so that
    stopping it also stops whatever it started, and a Ctrl+C in the terminal reaches only
    the cluster's own handler, which stops everything in order."""

    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    port: int | None = None
    popen: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def start(self) -> Process:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            self.popen = subprocess.Popen(
                self.argv, cwd=self.cwd, env={**os.environ, **self.env}, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, signum: int) -> None:
        """Send `signum` to the process's whole group (kill -9 of a server in a test)."""
        if self.popen is not None:
            try:
                os.killpg(self.popen.pid, signum)
            except ProcessLookupError:
                pass

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to the group, SIGKILL after `grace` seconds; reaps the process."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(5)
        # Whatever the leader left behind in its group (a worker it forked) goes with it.
        self.signal(signal.SIGKILL)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])
