"""What every scenario needs: mode parameters, service URLs, fixture data, generators."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from .procs import PYTHON, ROOT, Proc, Procs

RESULTS = ROOT / "bench" / "results"
#: Seconds a complete run of each mode should stay under (the results say how long it took).
TIME_BUDGET = {"quick": 240, "full": 900}

#: Parameters of each mode. Quick: the whole run in under 3 minutes; full: under 10.
MODES = {
    "quick": {
        "fanout_clients": 1000,
        "fanout_probes": 8,
        "step_seconds": 1.5,
        "drain_max": 1.5,
        #: a step is over when no byte arrived for this long after the last publish
        "drain_quiet": 0.3,
        "half_knee_seconds": 2.0,
        "bisect": 1,
        "rounds": 1,
        "max_steps": 5,
        #: the ladder starts at the target's knee in the latest earlier run, when there
        #: is one, and climbs by this factor (×2 without an earlier knee)
        "prior_growth": 1.25,
        #: a ladder step that failed on a busy machine is run again, this many times per target
        "busy_retries": 1,
        # Each project target sits between the references its goals compare it with, so
        # that they run minutes apart at most, on the same machine load.
        "fanout_targets": [
            "ref-socketio",
            "project-uvicorn",
            "ref-asgi-uvicorn",
            "ref-node-socketio",
            "ref-websockets",
            "ref-channels",
        ],
        "idle_clients": 0,  # quick: idle figures come from the fan-out connection phase
        "idle_seconds": 2.0,
        "idle_budget": None,
        "idle_targets": [],
        "ingest_seconds": 2.0,
        "ingest_batch": 500,
        "ingest_concurrency": 4,
        "storm_clients": 500,
        #: seconds: no connection starts later than this in a connect phase of the storm
        "storm_budget": 20.0,
        "subscribe_clients": 1000,
        "connect_subscribe_clients": 1000,
        "e2e_clients": 1000,
        #: readings/s of the first step of the ladder (doubled each step)
        "e2e_start_rate": 5,
        "e2e_max_steps": 5,
        "e2e_seconds": 3.0,
        "rooms_counts": [1000, 5000],
        "rooms_rate": 200,
        "rooms_seconds": 2.0,
        "rooms_repeats": 3,
        #: bounded wait for a quiet machine before each step: (window, patience) seconds
        "quiet": (0.25, 0.75),
    },
    "full": {
        "fanout_clients": 1000,
        "fanout_probes": 8,
        "step_seconds": 2.5,
        "drain_max": 3.0,
        "drain_quiet": 0.5,
        "half_knee_seconds": 5.0,
        "bisect": 2,
        "rounds": 1,
        "max_steps": 8,
        "prior_growth": 1.5,
        "busy_retries": 1,
        "fanout_targets": [
            "ref-socketio",
            "project-uvicorn",
            "project-uvicorn-2proc",
            "ref-asgi-uvicorn",
            "ref-asgi-daphne",
            "project-daphne",
            "ref-node-socketio",
            "ref-websockets",
            "ref-channels",
        ],
        "idle_clients": 10000,
        "idle_seconds": 5.0,
        #: idle CPU of the 1,000 fan-out clients (the idle scenario measures 10,000)
        "setup_idle_seconds": 2.0,
        #: seconds: no connection starts later than this (a slow server is reported as
        #: fewer connections, and the run stays within its budget)
        "idle_budget": 75.0,
        "idle_targets": ["project-uvicorn", "ref-node-socketio", "ref-websockets", "ref-socketio",
                         "ref-channels"],
        "ingest_seconds": 5.0,
        "ingest_batch": 500,
        "ingest_concurrency": 4,
        "storm_clients": 5000,
        "storm_budget": 60.0,
        "subscribe_clients": 1000,
        "connect_subscribe_clients": 5000,
        "e2e_clients": 1000,
        "e2e_start_rate": 5,
        "e2e_max_steps": 6,
        "e2e_seconds": 8.0,
        "rooms_counts": [1000, 10000],
        "rooms_rate": 200,
        "rooms_seconds": 4.0,
        "rooms_repeats": 7,
        "quiet": (0.5, 1.0),
    },
}


@dataclass
class Context:
    mode: str
    run_id: str
    database_url: str
    redis_url: str
    server_loop: str
    data: dict = field(default_factory=dict)
    records: list = field(default_factory=list)
    profile: bool = False
    only_targets: set | None = None
    #: a run restricted by --scenario/--target writes <mode>-partial-latest.*
    partial: bool = False
    #: extra environment of the project's server processes (--server-env KEY=VALUE)
    project_env: dict = field(default_factory=dict)
    #: seconds taken by the fixtures and by each scenario
    timings: dict = field(default_factory=dict)

    def targets(self, names: list[str]) -> list[str]:
        """`names` (the mode's default), or the --target names when given."""
        if not self.only_targets:
            return names
        from .targets import all_targets

        return [n for n in all_targets(self.run_id) if n in self.only_targets]

    @property
    def p(self) -> dict:
        return MODES[self.mode]

    @property
    def workdir(self) -> Path:
        path = RESULTS / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def server_env(self, target) -> dict:
        env = {"BENCH_REDIS_URL": self.redis_url, "LOG_LEVEL": "WARNING"}
        if target.kind == "project":
            env.update(
                {
                    "DATABASE_URL": self.database_url,
                    "REDIS_URL": self.redis_url,
                    "CHANNEL_LAYER_PREFIX": f"bench-{self.run_id}",
                    "DEBUG": "0",
                    "SECRET_KEY": "bench-secret-key-not-for-production-0123456789",
                    "ALLOWED_HOSTS": "127.0.0.1,localhost",
                }
            )
            # Live-map coalescing (one `machines:status` batch per room per tick) would turn
            # the fan-out of `machine:status` into one frame per second: measure the
            # per-event transport, like every other room. Override with --server-env.
            env["REALTIME_MAP_TICK_MS"] = "0"
            env.update(self.project_env)
        return env

    def publisher_env(self) -> dict:
        return {
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "CHANNEL_LAYER_PREFIX": f"bench-{self.run_id}",
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
            "SECRET_KEY": "bench-secret-key-not-for-production-0123456789",
        }

    def plan(self, target, count: int, *, rooms=None, name: str = "plan") -> Path:
        """A swarm plan: one {token, rooms} per connection (users reused when fewer)."""
        users = self.data["users"]
        specs = []
        for i in range(count):
            user = users[i % len(users)]
            specs.append(
                {
                    "token": user["token"],
                    "rooms": rooms(i, user) if rooms else target.rooms(self, user),
                }
            )
        path = self.workdir / f"{name}-{target.name}-{count}.json"
        path.write_bytes(orjson.dumps(specs))
        return path

    def record(self, scenario: str, **fields) -> dict:
        row = {
            "scenario": scenario,
            "run_id": self.run_id,
            "mode": self.mode,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **fields,
        }
        self.records.append(row)
        print("  " + orjson.dumps(row).decode()[:400], flush=True)
        return row


def swarm_proc(
    name: str,
    target,
    server: Proc,
    plan: Path,
    *,
    probes: int = 0,
    offset: int = 0,
    count: int = 10**9,
    wall_latency: bool = False,
) -> Proc:
    argv = [
        PYTHON,
        "-m",
        "bench.clients.swarm",
        "--port",
        str(server.port),
        "--path",
        target.path,
        "--mode",
        target.client_mode,
        "--plan",
        str(plan),
        "--probes",
        str(probes),
        "--offset",
        str(offset),
        "--count",
        str(count),
        *(["--wall-latency"] if wall_latency else []),
    ]
    return Proc(name, argv, control=True)


def publisher_proc(ctx: Context, target, server: Proc) -> Proc:
    argv = target.publisher_argv(ctx, server.port)
    return Proc(f"{target.name}-publisher", argv, env=ctx.publisher_env(), control=True)


async def settle(seconds: float) -> None:
    await asyncio.sleep(seconds)


def git_sha() -> str:
    import subprocess

    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "realtime", "vendhub", "telemetry", "machines"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except OSError:
        return "unknown"


__all__ = ["Context", "MODES", "Procs", "RESULTS", "os", "publisher_proc", "swarm_proc"]
