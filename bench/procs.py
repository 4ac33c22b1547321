"""Child processes of the harness and what /proc says about them (CPU ticks, RSS)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import socket
import sys
import time
from pathlib import Path

import orjson

from .machine import OWN_DATABASES, POSTGRES, MachineMeter, backend_database, snapshot, wait_quiet

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = ROOT / "bench" / "results" / "logs"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def process_tree(pid: int) -> list[int]:
    """`pid` and its live descendants (a server started with `--workers N` runs its workers
    as children: their CPU and memory are the server's)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for tid in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{tid}/children") as f:
                    todo.extend(int(child) for child in f.read().split())
        except (FileNotFoundError, NotADirectoryError, ProcessLookupError, ValueError):
            continue
    return found


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and its live descendants (`process_tree`), in seconds."""
    total = 0.0
    for member in process_tree(pid):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            total += _own_cpu_seconds(member)
    return total


def _own_cpu_seconds(pid: int) -> float:
    """CPU time of one process (all its threads), in seconds: the nanosecond run time of
    /proc/<pid>/task/*/schedstat (a thread that ended is lost), else utime + stime from
    /proc/<pid>/stat (10 ms ticks: too coarse for an idle server over a few seconds)."""
    try:
        total = 0
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(FileNotFoundError):
                with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as f:
                    total += int(f.read().split()[0])
        return total / 1e9
    except (FileNotFoundError, NotADirectoryError, ValueError, IndexError):
        pass
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and its live descendants."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            with open(f"/proc/{member}/statm", "rb") as f:
                total += int(f.read().split()[1]) * PAGE
    return total


class CpuMeter:
    """CPU of a set of processes between `start()` and `stop()`, as a fraction of one core."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.t0 = 0.0
        self.c0: list[float] = []

    def start(self) -> CpuMeter:
        self.t0 = time.monotonic()
        self.c0 = [cpu_seconds(p) for p in self.pids]
        return self

    def stop(self) -> tuple[float, list[float]]:
        """(wall seconds, cpu seconds of each pid)."""
        wall = time.monotonic() - self.t0
        return wall, [cpu_seconds(p) - c for p, c in zip(self.pids, self.c0, strict=True)]


class Proc:
    """A child process started by the harness; always stopped by `stop()` (idempotent)."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        env: dict | None = None,
        port: int | None = None,
        control: bool = False,
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.port = port
        self.control = control
        self.process: asyncio.subprocess.Process | None = None
        self.log_path = LOG_DIR / f"{name}.log"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self, timeout: float = 30.0) -> Proc:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")  # noqa: SIM115 - the child keeps its own descriptor
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv,
                cwd=ROOT,
                env=self.env,
                stdin=asyncio.subprocess.PIPE if self.control else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE if self.control else log,
                stderr=log,
                preexec_fn=child_setup,
                limit=2**24,
            )
        finally:
            log.close()
        if self.port is not None:
            await self.wait_port(timeout)
        return self

    async def wait_port(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} did not listen on {self.port} in {timeout}s")

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    async def ask(self, command: dict, timeout: float = 60.0) -> dict:
        """Send one JSON command line to a control-mode child; return its JSON reply line."""
        assert self.control and self.process is not None
        self.process.stdin.write(orjson.dumps(command) + b"\n")
        await self.process.stdin.drain()
        while True:
            line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
            if not line:
                raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
            if line.startswith(b"{"):
                return orjson.loads(line)

    async def stop(self, grace: float = 5.0) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        if self.control:
            with contextlib.suppress(Exception):
                process.stdin.write(b'{"cmd":"quit"}\n')
                await process.stdin.drain()
                await asyncio.wait_for(process.wait(), 2.0)
                return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


class Procs:
    """Every process a scenario started, stopped in reverse order on exit."""

    def __init__(self) -> None:
        self.started: list[Proc] = []

    async def start(self, proc: Proc, timeout: float = 30.0) -> Proc:
        self.started.append(proc)
        return await proc.start(timeout)

    async def stop(self, proc: Proc) -> None:
        await proc.stop()
        if proc in self.started:
            self.started.remove(proc)

    async def __aenter__(self) -> Procs:
        return self

    async def __aexit__(self, *exc) -> None:
        # A server holding 10,000 sockets may take long to shut down gracefully; its
        # figures are taken by now, so it gets 2 s before SIGKILL.
        for proc in reversed(self.started):
            await proc.stop(grace=2.0)
        self.started.clear()


def service_cpu(name: str) -> float:
    """CPU seconds of a service whose processes are named `name` (e.g. postgres), including
    its short-lived children already reaped (cutime/cstime of the parent): PostgreSQL runs
    a backend process per connection, and a backend may live for one request only. Live
    PostgreSQL backends of other databases (other people's test runs) are left out."""
    total = 0.0
    for pid, s in snapshot().items():
        if not s.comm.startswith(name):
            continue
        if name == POSTGRES:
            db = backend_database(pid, s.start)
            if db is not None and db not in OWN_DATABASES:
                continue
        total += s.own + s.children
    return total


def child_setup() -> None:
    """In each child: the harness's file limit, and SIGTERM when the harness dies, so that
    nothing it started outlives it (even when it is killed)."""
    raise_nofile()
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


__all__ = ["MachineMeter", "wait_quiet"]
