"""Is someone else using the machine? CPU of the processes that are not the harness's.

Every process on the machine falls in one of four groups:

* ours: the harness and its descendants (servers, load generators, py-spy);
* services: Redis and PostgreSQL's postmaster and background workers (shared: their CPU is
  part of what is measured), and PostgreSQL backends connected to the bench database;
* kernel threads (kworker, ksoftirqd, ...): mostly loopback traffic of the harness itself,
  reported apart and not counted as foreign;
* foreign: everything else, including PostgreSQL backends of other databases (other
  engineers' test runs) and processes that started and ended during the window.

A process that ended during the window is gone from /proc, but its parent reaped it and the
parent's cutime/cstime grew by the child's whole lifetime: for each foreign parent we count
the growth of its own and its children's time, minus what its reaped children had already
used when the window opened. The postmaster's reaped backends cannot be told apart by
database, so a foreign backend that lives shorter than the window is missed.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field

CLK_TCK = os.sysconf("SC_CLK_TCK")
#: PostgreSQL databases whose backends serve the harness (set by `python -m bench`)
OWN_DATABASES: set[str] = set()
REDIS = "redis-server"
POSTGRES = "postgres"


@dataclass(frozen=True)
class Sample:
    ppid: int
    comm: str
    start: int  # start time in clock ticks since boot: tells a reused pid apart
    own: float  # utime + stime, seconds
    children: float  # cutime + cstime of reaped children, seconds


def machine_busy() -> float:
    """CPU seconds the whole machine spent busy (every core, every process, interrupts)."""
    with open("/proc/stat", "rb") as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / CLK_TCK  # minus idle and iowait


def snapshot() -> dict[int, Sample]:
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        head, _, tail = raw.rpartition(b")")
        comm = head.split(b"(", 1)[1].decode(errors="replace")
        fields = tail.split()
        table[int(entry.name)] = Sample(
            ppid=int(fields[1]),
            comm=comm,
            start=int(fields[19]),
            own=(int(fields[11]) + int(fields[12])) / CLK_TCK,
            children=(int(fields[13]) + int(fields[14])) / CLK_TCK,
        )
    return table


_db_of: dict[tuple[int, int], str | None] = {}


def backend_database(pid: int, start: int) -> str | None:
    """The database a PostgreSQL backend serves (from its process title), None for the
    postmaster and background workers. Title: `postgres: [cluster: ]user database host ...`."""
    key = (pid, start)
    if key not in _db_of:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                title = f.read().replace(b"\0", b" ").decode(errors="replace").split()
        except OSError:
            title = []
        db = None
        if title[:1] == ["postgres:"]:
            words = title[1:]
            if words and words[0].endswith(":"):  # Debian's cluster name, e.g. "15/main:"
                words = words[1:]
            if len(words) >= 3 and ("(" in words[2] or words[2] == "[local]"):
                db = words[1]
        _db_of[key] = db
        if len(_db_of) > 20000:
            _db_of.clear()
    return _db_of[key]


def descendants(root: int, *tables: dict[int, Sample]) -> set[int]:
    ours = {root}
    changed = True
    while changed:
        changed = False
        for table in tables:
            for pid, s in table.items():
                if s.ppid in ours and pid not in ours:
                    ours.add(pid)
                    changed = True
    return ours


def kind(pid: int, s: Sample, ours: set[int], kernel: set[int]) -> str:
    if pid in ours:
        return "ours"
    if pid in kernel:
        return "kernel"
    if s.comm.startswith(REDIS):
        return "service"
    if s.comm.startswith(POSTGRES):
        db = backend_database(pid, s.start)
        return "foreign" if db is not None and db not in OWN_DATABASES else "service"
    return "foreign"


@dataclass
class Load:
    """CPU used during a window, in cores."""

    foreign: float
    kernel: float
    top: list = field(default_factory=list)  # [[who, cores], ...] biggest foreign users


def measure(before: dict[int, Sample], after: dict[int, Sample], wall: float) -> Load:
    ours = descendants(os.getpid(), before, after)
    kernel = {2} | descendants(2, before, after)
    # A process that ended was reaped by its parent, whose cutime grew by its whole life;
    # when the parent ended too, its own parent got both. What they had used before the
    # window is taken off their nearest ancestor still alive.
    alive = {pid for pid, s in after.items() if pid in before and before[pid].start == s.start}
    reaped: dict[int, float] = {}
    for pid, s in before.items():
        gone = pid not in after or after[pid].start != s.start
        if not gone or kind(pid, s, ours, kernel) != "foreign":
            continue
        ancestor, hops = s.ppid, 0
        while ancestor not in alive and ancestor in before and hops < 64:
            ancestor, hops = before[ancestor].ppid, hops + 1
        reaped[ancestor] = reaped.get(ancestor, 0.0) + s.own + s.children
    foreign, kernel_cpu = 0.0, 0.0
    users: dict[str, float] = {}
    for pid, s in after.items():
        group = kind(pid, s, ours, kernel)
        if group not in ("foreign", "kernel"):
            continue
        old = before.get(pid)
        if old is not None and old.start == s.start:
            used = s.own - old.own
            if not s.comm.startswith(POSTGRES):
                used += s.children - old.children - reaped.get(pid, 0.0)
        else:
            used = s.own + (0.0 if s.comm.startswith(POSTGRES) else s.children)
        if group == "kernel":
            kernel_cpu += max(used, 0.0)
            continue
        foreign += used
        who = s.comm
        if s.comm.startswith(POSTGRES):
            who = f"postgres:{backend_database(pid, s.start)}"
        users[who] = users.get(who, 0.0) + max(used, 0.0)
    wall = max(wall, 1e-6)
    top = sorted(users.items(), key=lambda kv: -kv[1])[:4]
    return Load(
        foreign=max(foreign, 0.0) / wall,
        kernel=kernel_cpu / wall,
        top=[[who, round(cpu / wall, 3)] for who, cpu in top if cpu > 0],
    )


class MachineMeter:
    """Foreign CPU between `start()` and `stop()` (see the module docstring)."""

    def start(self) -> MachineMeter:
        self.t0 = time.monotonic()
        self.busy0 = machine_busy()
        self.before = snapshot()
        return self

    def stop(self) -> Load:
        after = snapshot()
        wall = time.monotonic() - self.t0
        load = measure(self.before, after, wall)
        # Never more than the whole machine did (a bound on any accounting slip).
        load.foreign = min(load.foreign, (machine_busy() - self.busy0) / max(wall, 1e-6))
        return load


_timeouts_in_a_row = 0


async def wait_quiet(
    limit: float = 0.25, window: float = 0.5, patience: float | None = None
) -> float:
    """Wait (bounded) until other jobs use less than `limit` cores; returns the last reading.
    After three waits in a row that ran out of patience (someone's long test run), only one
    window is read until the machine is seen quiet again: waiting would not help."""
    global _timeouts_in_a_row
    if patience is None:
        patience = float(os.environ.get("BENCH_QUIET_PATIENCE", "3"))
    if _timeouts_in_a_row >= 3:
        patience = 0.0
    deadline = time.monotonic() + patience
    while True:
        meter = MachineMeter().start()
        await asyncio.sleep(window)
        load = meter.stop().foreign
        if load < limit:
            _timeouts_in_a_row = 0
            return load
        if time.monotonic() > deadline:
            _timeouts_in_a_row += 1
            return load
