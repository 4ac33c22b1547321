"""The Markdown sections of a results file: goals, one table per scenario, ratios to the
references measured in the same run, and notes on invalid and machine-busy measurements."""

from __future__ import annotations

REFERENCES = [
    "ref-websockets",
    "ref-asgi-uvicorn",
    "ref-asgi-daphne",
    "ref-socketio",
    "ref-channels",
    "ref-node-socketio",
]
PROJECT = ["project-uvicorn", "project-uvicorn-2proc", "project-daphne"]


def rows_of(ctx, scenario):
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


def _busy(summary: dict) -> str:
    """`no`, or `yes (0.6)`: the most foreign cores seen at the knee or the half-knee step."""
    if not (summary.get("contended") or summary.get("half_knee_contended")):
        return "no"
    worst = max(summary.get("knee_foreign_cpu") or 0.0, summary.get("half_knee_foreign_cpu") or 0.0)
    return f"yes ({worst:.2f})"


def fanout_section(ctx) -> tuple[list[str], dict]:
    summaries = [r for r in rows_of(ctx, "fanout-summary") if "target" in r]
    idle = rows_of(ctx, "idle")
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
                _busy(r),
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
    no_knee = [r for r in best.values() if r.get("knee_fps") is None and r.get("failed_step")]
    if no_knee:
        lines += [""] + [
            f"No knee for {r['target']}: every step failed (first failure {r['failed_step']})."
            for r in no_knee
        ]
    return lines, best


def idle_section(ctx) -> list[str]:
    rows = []
    for r in rows_of(ctx, "idle"):
        rows.append(
            [
                r["target"],
                r.get("source"),
                r.get("connections"),
                r.get("rss_per_conn_kb"),
                f"{r['server_cpu_idle'] * 100:.2f}"
                if r.get("server_cpu_idle") is not None
                else None,
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
            "server CPU idle (% of a core)",
            "connects/s",
            "failed",
        ],
        rows,
    )


def generic_section(ctx, scenario: str, title: str, keys: list[str]) -> list[str]:
    rows = [[r.get(k) for k in keys] for r in rows_of(ctx, scenario)]
    errors = [r["error"] for r in rows_of(ctx, scenario + "-summary") if r.get("error")]
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

    def add(goal, measured, met, busy=None):
        status = "met" if met else ("missed" if met is False else "n/a")
        out.append([goal, measured, status, {True: "yes", False: "no"}.get(busy, "—")])

    def fan_busy(*names):
        rows = [best.get(n) for n in names]
        if any(r is None for r in rows):
            return None
        return any(r.get("contended") or r.get("half_knee_contended") for r in rows)

    pu = best.get("project-uvicorn", {})
    sio = best.get("ref-socketio", {}).get("knee_fps")
    asgi = best.get("ref-asgi-uvicorn", {}).get("knee_fps")
    k = pu.get("knee_fps")
    add(
        "fan-out ≥ 5× python-socketio",
        f"{k / sio:.2f}×" if k and sio else "—",
        (k / sio >= 5) if k and sio else None,
        fan_busy("project-uvicorn", "ref-socketio"),
    )
    add(
        "fan-out ≥ ½ raw ASGI (uvicorn)",
        f"{k / asgi:.2f}×" if k and asgi else "—",
        (k / asgi >= 0.5) if k and asgi else None,
        fan_busy("project-uvicorn", "ref-asgi-uvicorn"),
    )
    p99 = pu.get("half_knee_p99_ms")
    add(
        "p99 < 50 ms and 0 lost at ½ knee",
        f"p99 {_fmt(p99)} ms, lost {_fmt(pu.get('half_knee_lost'))}",
        (p99 < 50 and pu.get("half_knee_lost") == 0) if p99 is not None else None,
        pu.get("half_knee_contended"),
    )
    idle = [r for r in rows_of(ctx, "idle") if r["target"] == "project-uvicorn"]
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
    ing = [r for r in rows_of(ctx, "ingest-summary") if r.get("batched_rps") is not None]
    if ing:
        r = ing[-1]
        add(
            "ingest ≥ 5,000 readings/s (HTTP batches)",
            f"{_fmt(r['batched_rps'])}/s",
            r["batched_rps"] >= 5000,
            r.get("contended"),
        )
        ratio = r.get("ratio_to_naive")
        add(
            "ingest ≥ 10× naive per-row commit",
            f"{ratio}×" if ratio else "—",
            (ratio >= 10) if ratio else None,
            r.get("contended"),
        )
    storm = [
        r
        for r in rows_of(ctx, "storm")
        if r.get("clients") and r.get("target") == "project-uvicorn"
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
            r.get("contended"),
        )
    node = best.get("ref-node-socketio", {})
    if node.get("knee_fps") and k:
        add(
            "fan-out ≥ Node socket.io 4.8 (knee)",
            f"{k / node['knee_fps']:.2f}× ({_fmt(k, 0)} vs {_fmt(node['knee_fps'], 0)} frames/s)",
            k >= node["knee_fps"],
            fan_busy("project-uvicorn", "ref-node-socketio"),
        )
        ours, theirs = pu.get("knee_server_us_per_frame"), node.get("knee_server_us_per_frame")
        if ours and theirs:
            add(
                "server CPU per frame ≤ Node's (each at its knee)",
                f"{ours} vs {theirs} µs",
                ours <= theirs,
                fan_busy("project-uvicorn", "ref-node-socketio"),
            )
    two = best.get("project-uvicorn-2proc", {}).get("knee_fps")
    if two and k:
        add(
            "2 processes on 2 cores (uvicorn --workers 2) ≥ 1.8× one process",
            f"{two / k:.2f}× ({_fmt(two, 0)} vs {_fmt(k, 0)} frames/s)",
            two / k >= 1.8,
            fan_busy("project-uvicorn", "project-uvicorn-2proc"),
        )
    for row in rows_of(ctx, "subscribe"):
        if row.get("target") != "project-uvicorn":
            continue
        limit = 1.0 if row["kind"] == "one machine room" else 5.0
        count = row.get("subscribed", row.get("connected", 0))
        add(
            f"{row['kind']}: {row['clients']:,} clients in < {limit:.0f} s, 0 errors",
            f"{count:,} in {row['seconds']} s, {row['failed']} failed",
            (row["seconds"] < limit and not row["failed"] and count == row["clients"])
            if row["clients"] >= (1000 if limit == 1.0 else 5000) else None,
            row.get("contended"),
        )
    e2e = [r for r in rows_of(ctx, "e2e")
           if r.get("lat_p99_ms") is not None and r.get("kind") == "half-knee"]
    if e2e:
        r = e2e[-1]
        whole = r["accepted"] == r["readings"] and not r.get("missing")
        add(
            f"reading → {r['subscribers']:,} dashboards p99 < 50 ms at ½ knee "
            f"({r['rate']:g} readings/s)",
            f"p50 {_fmt(r['lat_p50_ms'])} / p99 {_fmt(r['lat_p99_ms'])} ms, "
            f"{r['accepted']}/{r['readings']} accepted, {_fmt(r.get('missing'))} missing",
            r["lat_p99_ms"] < 50 and whole,
            r.get("contended"),
        )
    if big:
        add(
            f"idle ≤ 12 KB RSS/conn, Node's figure ({big['connections']} conns)",
            f"{big['rss_per_conn_kb']} KB",
            big["rss_per_conn_kb"] <= 12 if big["connections"] >= 10000 else None,
        )
    rooms = [r for r in rows_of(ctx, "rooms-summary") if r.get("cost_ratio") is not None]
    if rooms:
        r = rooms[-1]
        add(
            f"publish cost {r['rooms_small']} vs {r['rooms_large']} rooms within 10 %",
            f"{r['cost_ratio']:.2f}×",
            abs(r["cost_ratio"] - 1) <= 0.10,
            any(x.get("contended") for x in rows_of(ctx, "rooms")),
        )
    return ["### Goals (project-uvicorn)", ""] + table(
        ["goal", "measured", "status", "machine busy"], out
    )


def _ratio(a, b, digits=2) -> str:
    return f"{a / b:.{digits}f}×" if a and b else "—"


def ratios_section(ctx) -> list[str]:
    """Project ÷ each reference measured in this run, for idle memory, storm and ingest
    (fan-out has its own table)."""
    out = []
    idle = {}
    for r in rows_of(ctx, "idle"):
        if r.get("rss_per_conn_kb") is not None:
            idle.setdefault(r["target"], r)
    for p in PROJECT:
        if p in idle:
            cells = [
                f"{ref} {_ratio(idle[p]['rss_per_conn_kb'], idle[ref]['rss_per_conn_kb'])}"
                for ref in REFERENCES
                if ref in idle
            ]
            if cells:
                out.append(f"* idle RSS per connection, {p} ÷ reference: " + ", ".join(cells))
    storms = {r["target"]: r for r in rows_of(ctx, "storm") if r.get("clients")}
    for p in PROJECT:
        for ref in REFERENCES:
            if p in storms and ref in storms:
                a, b = storms[p], storms[ref]
                key = "server_ms_per_reconnect"
                out.append(
                    f"* storm, {p} ÷ {ref}: {_ratio(a['seconds'], b['seconds'], 1)} the time "
                    f"({a['clients']} vs {b['clients']} clients), "
                    f"{_ratio(a.get(key), b.get(key), 1)}"
                    " the server CPU per reconnect"
                )
    ingest = rows_of(ctx, "ingest")
    batched = next((r for r in ingest if r.get("path") == "HTTP batches"), None)
    if batched:
        cells = [
            f"{r['path']} {_ratio(batched['readings_per_s'], r['readings_per_s'])}"
            for r in ingest
            if r["target"] != batched["target"] or r["path"] == "HTTP, one reading per request"
        ]
        out.append("* ingest, HTTP batches ÷ " + ", ".join(cells))
    if not out:
        return []
    return ["### Project ÷ references (same run)", ""] + out


def notes(ctx) -> list[str]:
    """Measurements not counted (invalid), and those taken while other jobs used the machine
    (with who used it), so that nobody compares them by mistake."""
    out = []
    for r in ctx.records:
        if r.get("kind") == "warmup" or r["scenario"].endswith("-summary"):
            continue
        what = f"{r['scenario']} {r.get('target', '')} {r.get('kind') or r.get('path') or ''}"
        what = what.strip() + (f" at {r['rate']}/s" if r.get("rate") is not None else "")
        if r.get("valid") is False:
            out.append(f"* invalid (not counted): {what}: {r.get('invalid_reason')}")
        elif r.get("contended"):
            top = ", ".join(f"{who} {cores}" for who, cores in r.get("foreign_top") or [])
            out.append(
                f"* machine busy: {what}: other jobs used {r.get('foreign_cpu')} cores"
                + (f" ({top})" if top else "")
            )
    if not out:
        return ["No step was invalid and no step ran on a busy machine."]
    return ["### Invalid and machine-busy measurements", ""] + out
