"""Results: JSON lines (one per measurement) and a Markdown summary with goals."""

from __future__ import annotations

import importlib.metadata as md
import platform
import time
from pathlib import Path

import orjson

from .context import RESULTS, TIME_BUDGET, Context, git_sha
from .sections import (
    fanout_section,
    generic_section,
    goals,
    idle_section,
    notes,
    ratios_section,
    rows_of,
    table,
)

PACKAGES = [
    "Django",
    "channels",
    "channels-redis",
    "daphne",
    "uvicorn",
    "websockets",
    "python-socketio",
    "python-engineio",
    "orjson",
    "redis",
    "psycopg",
    "uvloop",
    "py-spy",
]


def environment(ctx: Context, elapsed: float) -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    try:
        import redis

        versions["redis-server"] = redis.Redis.from_url(ctx.redis_url).info("server")[
            "redis_version"
        ]
    except Exception:
        versions["redis-server"] = None
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return {
        "scenario": "environment",
        "run_id": ctx.run_id,
        "mode": ctx.mode,
        "git": git_sha(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "server_loop": ctx.server_loop,
        "versions": versions,
        "elapsed_s": round(elapsed, 1),
        "budget_s": TIME_BUDGET[ctx.mode],
        "timings_s": ctx.timings,
        "server_env": ctx.project_env,
        "partial": ctx.partial,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def markdown(ctx, env, scenarios) -> str:
    lines = [
        f"## Benchmark results ({ctx.mode}, run {ctx.run_id})",
        "",
        f"git `{env['git']}`, Python {env['python']}, {env['cores']} cores ({env['cpu']}), "
        f"server loop `{env['server_loop']}`, took {env['elapsed_s']} s "
        f"(budget {env['budget_s']} s: "
        + ", ".join(f"{k} {v} s" for k, v in env["timings_s"].items())
        + ").",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v),
        "",
    ]
    if env.get("server_env"):
        lines += [f"Project server environment overrides: `{env['server_env']}`", ""]
    fan, best = fanout_section(ctx)
    body = [
        goals(ctx, best),
        fan,
        idle_section(ctx),
        generic_section(
            ctx,
            "ingest",
            "Telemetry ingest (HTTP, per process)",
            [
                "target",
                "path",
                "readings_per_s",
                "requests_per_s",
                "errors",
                "server_us_per_reading",
                "db_us_per_reading",
                "db_cpu",
                "server_cpu",
                "client_cpu",
                "valid",
            ],
        ),
        generic_section(
            ctx,
            "storm",
            "Reconnect storm",
            [
                "target",
                "clients",
                "seconds",
                "reconnected",
                "failed",
                "not_started",
                "server_errors",
                "connect_p50_ms",
                "connect_p99_ms",
                "server_ms_per_reconnect",
                "server_cpu",
                "swarm_cpu",
            ],
        ),
        generic_section(
            ctx,
            "subscribe",
            "Subscribing (the project authorizes each request and sends a snapshot; the "
            "references do neither)",
            [
                "target",
                "kind",
                "clients",
                "seconds",
                "subscribed",
                "connected",
                "failed",
                "ack_p50_ms",
                "ack_p99_ms",
                "connect_p99_ms",
                "server_cpu",
                "swarm_cpu",
            ],
        ),
        generic_section(
            ctx,
            "e2e",
            "End to end: a device's reading (HTTP, one per request) → `machine:telemetry` at "
            "every subscriber",
            [
                "target",
                "kind",
                "subscribers",
                "rate",
                "readings",
                "accepted",
                "events_per_probe",
                "missing",
                "lat_p50_ms",
                "lat_p99_ms",
                "http_p50_ms",
                "http_p99_ms",
                "server_cpu",
            ],
        ),
        generic_section(
            ctx,
            "rooms",
            "Publish cost vs number of rooms",
            [
                "target",
                "rooms",
                "rate",
                "server_us_per_publish",
                "delivered",
                "lat_p50_ms",
                "lat_p99_ms",
                "valid",
            ],
        ),
    ]
    body += [ratios_section(ctx), notes(ctx), error_kinds(ctx)]
    for section in body:
        if section:
            lines += section + [""]
    profiles = [r for r in rows_of(ctx, "fanout-summary") if isinstance(r.get("profile"), dict)]
    for r in profiles:
        prof = r["profile"]
        lines += [
            f"### Profile: {r['target']} at 0.8× knee ({prof.get('step_delivered_fps')} "
            f"frames/s, py-spy, {prof.get('samples')} samples)",
            "",
        ]
        lines += table(["self time", "%"], prof.get("self_top", [])[:15])
        lines += [""]
    return "\n".join(lines) + "\n"


def error_kinds(ctx) -> list[str]:
    out = [
        f"* {r['target']}: " + ", ".join(f"{k} ×{v}" for k, v in r["server_error_kinds"].items())
        for r in rows_of(ctx, "storm")
        if isinstance(r.get("server_error_kinds"), dict) and r["server_error_kinds"]
    ]
    return ["### Server errors during the storm", ""] + out if out else []


#: The READMEs that show the goals table of the latest complete run, between markers.
READMES = (RESULTS.parent / "README.md", RESULTS.parent.parent / "README.md")


def update_readme(ctx, env, md_text: str) -> None:
    """Put the goals table of the latest complete run of this mode in bench/README.md (and
    the project's README, which shows the full run's), between `<!-- latest-<mode>:begin -->`
    and `<!-- latest-<mode>:end -->`."""
    begin, end = f"<!-- latest-{ctx.mode}:begin -->", f"<!-- latest-{ctx.mode}:end -->"
    if ctx.partial:
        return
    goals_table = md_text.split("### Goals (project-uvicorn)", 1)[-1].split("\n### ", 1)[0]
    block = (
        f"{begin}\nLatest {ctx.mode} run ({ctx.run_id}, git `{env['git'][:12]}`, "
        f"{env['elapsed_s']} s; all tables in `bench/results/{ctx.mode}-latest.md`):\n\n"
        f"{goals_table.strip()}\n{end}"
    )
    for readme in READMES:
        text = readme.read_text() if readme.exists() else ""
        if begin not in text or end not in text:
            continue
        head, rest = text.split(begin, 1)
        readme.write_text(head + block + rest.split(end, 1)[1])


#: Runs kept in history.jsonl (what the fan-out ladder starts from, and a record of recent
#: runs): the file is committed, and grew ~50 KB per full run.
HISTORY_RUNS = 40


def append_history(path: Path, rows: list[dict], keep_runs: int = HISTORY_RUNS) -> None:
    """Append a run's rows to `path`, keeping the rows of the latest `keep_runs` runs."""
    lines = path.read_bytes().splitlines(keepends=True) if path.exists() else []
    lines += [orjson.dumps(r) + b"\n" for r in rows]
    run_of = [orjson.loads(line).get("run_id") for line in lines]
    kept_runs = set(list(dict.fromkeys(run_of))[-keep_runs:])
    path.write_bytes(b"".join(line for line, run in zip(lines, run_of, strict=True)
                          if run in kept_runs))


def write_reports(ctx: Context, env: dict, scenarios) -> list[Path]:
    rows = [env] + ctx.records
    name = f"{ctx.mode}-{'partial-' if ctx.partial else ''}latest"
    jsonl = RESULTS / f"{name}.jsonl"
    jsonl.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    append_history(RESULTS / "history.jsonl", rows)
    md_path = RESULTS / f"{name}.md"
    md_text = markdown(ctx, env, scenarios)
    md_path.write_text(md_text)
    update_readme(ctx, env, md_text)
    return [jsonl, md_path]


def rerender(jsonl: Path) -> Path:
    """Write the Markdown of a results file again (and the README table of a complete run),
    with the current report code: `python -m bench report bench/results/quick-latest.jsonl`."""
    rows = [orjson.loads(line) for line in jsonl.read_bytes().splitlines() if line.strip()]
    env, records = rows[0], rows[1:]
    ctx = Context(
        mode=env["mode"],
        run_id=env["run_id"],
        database_url="",
        redis_url="",
        server_loop=env.get("server_loop", "asyncio"),
    )
    ctx.records = records
    ctx.partial = bool(env.get("partial")) or "partial" in jsonl.name
    for key in ("budget_s", "timings_s"):
        env.setdefault(key, {} if key == "timings_s" else 0)
    md_text = markdown(ctx, env, [])
    md_path = jsonl.with_suffix(".md")
    md_path.write_text(md_text)
    update_readme(ctx, env, md_text)
    return md_path
