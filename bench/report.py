"""Results: JSON lines (one per measurement) and a Markdown summary with goals."""

from __future__ import annotations

import importlib.metadata as md
import platform
import time
from pathlib import Path

import orjson

from .context import RESULTS, Context, git_sha

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
REFERENCES = [
    "ref-websockets",
    "ref-asgi-uvicorn",
    "ref-asgi-daphne",
    "ref-socketio",
    "ref-channels",
]
PROJECT = ["project-uvicorn", "project-daphne"]


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
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _rows(ctx, scenario):
    return [r for r in ctx.records if r["scenario"] == scenario]


def _best(rows, key):
    rows = [r for r in rows if r.get(key) is not None]
    return max(rows, key=lambda r: r[key]) if rows else None


def _fmt(v, digits=1):
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def table(headers: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return out


def fanout_section(ctx) -> tuple[list[str], dict]:
    summaries = [r for r in _rows(ctx, "fanout-summary") if "target" in r]
    idle = _rows(ctx, "idle")
    best = {}
    for r in summaries:
        if r.get("knee_fps") is not None or r.get("max_fps") is not None:
            cur = best.get(r["target"])
            if cur is None or (r.get("knee_fps") or 0) > (cur.get("knee_fps") or 0):
                best[r["target"]] = r
    lines = ["### Fan-out: 1 publisher → 1000 subscribers in `machines:all`", ""]
    rows = []
    for name in PROJECT + REFERENCES:
        r = best.get(name)
        err = next(
            (s.get("error") for s in summaries if s["target"] == name and s.get("error")), None
        )
        if r is None:
            if err:
                rows.append([name, "error: " + err[:80]] + [None] * 8)
            continue
        i = _best(
            [x for x in idle if x["target"] == name and x.get("source") == "fanout-setup"],
            "connections",
        )
        rows.append(
            [
                name,
                r.get("knee_fps"),
                r.get("max_fps"),
                r.get("knee_server_us_per_frame"),
                r.get("half_knee_p50_ms"),
                r.get("half_knee_p99_ms"),
                r.get("half_knee_lost"),
                "yes" if r.get("contended") or r.get("half_knee_contended") else "no",
                i and i.get("rss_per_conn_kb"),
                i and i.get("server_cpu_ms_per_connect"),
            ]
        )
    lines += table(
        [
            "target",
            "knee frames/s",
            "max frames/s",
            "server µs/frame at knee",
            "p50 ms @½knee",
            "p99 ms @½knee",
            "lost @½knee",
            "machine busy",
            "RSS KB/conn (1k)",
            "server ms/connect",
        ],
        rows,
    )
    ratios = []
    for p in PROJECT:
        if p not in best or not best[p].get("knee_fps"):
            continue
        row = [p]
        for ref in REFERENCES:
            ref_fps = best.get(ref, {}).get("knee_fps")
            row.append(f"{best[p]['knee_fps'] / ref_fps:.2f}×" if ref_fps else "—")
        ratios.append(row)
    if ratios:
        lines += ["", "Ratio of knee throughput, project ÷ reference:", ""]
        lines += table(["project"] + REFERENCES, ratios)
    invalid = [r for r in _rows(ctx, "fanout") if not r.get("valid") and r["kind"] != "warmup"]
    if invalid:
        lines += [
            "",
            f"{len(invalid)} step(s) invalid (not counted): "
            + "; ".join(sorted({f"{r['target']}: {r['invalid_reason']}" for r in invalid})),
        ]
    return lines, best


def idle_section(ctx) -> list[str]:
    rows = []
    for r in _rows(ctx, "idle"):
        rows.append(
            [
                r["target"],
                r.get("source"),
                r.get("connections"),
                r.get("rss_per_conn_kb"),
                r.get("server_cpu_idle"),
                r.get("connects_per_s"),
                r.get("connect_failed"),
            ]
        )
    if not rows:
        return []
    return [
        "### Idle connections (handshake done, joined to `machines:all`, user and org rooms)",
        "",
    ] + table(
        [
            "target",
            "measured in",
            "connections",
            "RSS KB/conn",
            "server CPU idle (cores)",
            "connects/s",
            "failed",
        ],
        rows,
    )


def generic_section(ctx, scenario: str, title: str, keys: list[str]) -> list[str]:
    rows = [[r.get(k) for k in keys] for r in _rows(ctx, scenario)]
    errors = [r["error"] for r in _rows(ctx, scenario + "-summary") if r.get("error")]
    if not rows and not errors:
        return []
    out = [f"### {title}", ""]
    if rows:
        out += table(keys, rows)
    for e in errors:
        out.append(f"\nerror: `{e[:300]}`")
    return out


def goals(ctx, best) -> list[str]:
    out = []

    def add(goal, measured, met):
        out.append([goal, measured, "met" if met else ("missed" if met is False else "n/a")])

    pu = best.get("project-uvicorn", {})
    sio = best.get("ref-socketio", {}).get("knee_fps")
    asgi = best.get("ref-asgi-uvicorn", {}).get("knee_fps")
    k = pu.get("knee_fps")
    add(
        "fan-out ≥ 5× python-socketio",
        f"{k / sio:.1f}×" if k and sio else "—",
        (k / sio >= 5) if k and sio else None,
    )
    add(
        "fan-out ≥ ½ raw ASGI (uvicorn)",
        f"{k / asgi:.2f}×" if k and asgi else "—",
        (k / asgi >= 0.5) if k and asgi else None,
    )
    p99 = pu.get("half_knee_p99_ms")
    add(
        "p99 < 50 ms and 0 lost at ½ knee",
        f"p99 {_fmt(p99)} ms, lost {_fmt(pu.get('half_knee_lost'))}",
        (p99 < 50 and pu.get("half_knee_lost") == 0) if p99 is not None else None,
    )
    idle = [r for r in _rows(ctx, "idle") if r["target"] == "project-uvicorn"]
    big = _best(idle, "connections")
    if big:
        add(
            f"idle ≤ 20 KB RSS/conn ({big['connections']} conns)",
            f"{big['rss_per_conn_kb']} KB",
            big["rss_per_conn_kb"] <= 20,
        )
        per10k = big["server_cpu_idle"] * 10000 / big["connections"]
        add(
            "10k idle conns < 5 % of a core",
            f"{per10k:.1%} (scaled from {big['connections']})",
            per10k < 0.05,
        )
    ing = [r for r in _rows(ctx, "ingest-summary") if r.get("batched_rps") is not None]
    if ing:
        r = ing[-1]
        add(
            "ingest ≥ 5,000 readings/s (HTTP batches)",
            f"{_fmt(r['batched_rps'])}/s",
            r["batched_rps"] >= 5000,
        )
        ratio = r.get("ratio_to_naive")
        add(
            "ingest ≥ 10× naive per-row commit",
            f"{ratio}×" if ratio else "—",
            (ratio >= 10) if ratio else None,
        )
    storm = [
        r for r in _rows(ctx, "storm") if r.get("clients") and r.get("target") == "project-uvicorn"
    ]
    if storm:
        r = storm[-1]
        ok = (
            r["clients"] >= 5000
            and r["seconds"] <= 10
            and not r["failed"]
            and not r.get("server_errors")
        )
        add(
            "storm: 5,000 reconnect in ≤ 10 s, 0 errors",
            f"{r['clients']} in {r['seconds']} s, {r['failed']} failed, "
            f"{r.get('server_errors', 0)} server errors",
            ok if r["clients"] >= 5000 else None,
        )
    rooms = [r for r in _rows(ctx, "rooms-summary") if r.get("cost_ratio") is not None]
    if rooms:
        r = rooms[-1]
        add(
            f"publish cost {r['rooms_small']} vs {r['rooms_large']} rooms within 10 %",
            f"{r['cost_ratio']:.2f}×",
            abs(r["cost_ratio"] - 1) <= 0.10,
        )
    return ["### Goals (project-uvicorn)", ""] + table(["goal", "measured", "status"], out)


def markdown(ctx, env, scenarios) -> str:
    lines = [
        f"## Benchmark results ({ctx.mode}, run {ctx.run_id})",
        "",
        f"git `{env['git']}`, Python {env['python']}, {env['cores']} cores ({env['cpu']}), "
        f"server loop `{env['server_loop']}`, took {env['elapsed_s']} s.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v),
        "",
    ]
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
                "failed",
                "server_errors",
                "connect_p50_ms",
                "connect_p99_ms",
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
    for section in body:
        if section:
            lines += section + [""]
    profiles = [r for r in _rows(ctx, "fanout-summary") if isinstance(r.get("profile"), dict)]
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


def write_reports(ctx: Context, env: dict, scenarios) -> list[Path]:
    rows = [env] + ctx.records
    name = f"{ctx.mode}-{'partial-' if ctx.partial else ''}latest"
    jsonl = RESULTS / f"{name}.jsonl"
    jsonl.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    with open(RESULTS / "history.jsonl", "ab") as f:
        f.write(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    md_path = RESULTS / f"{name}.md"
    md_path.write_text(markdown(ctx, env, scenarios))
    return [jsonl, md_path]
