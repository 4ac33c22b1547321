"""bench/mqtt_ingest.py's results: the latest run as one JSON line
(bench/results/mqtt-latest.jsonl) and as tables (bench/results/mqtt-latest.md)."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
GOALS = {"readings_per_s": 10_000, "devices": 5_000}


def _status(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _busy(r: dict) -> str:
    foreign = r.get("foreign_cpu", 0)
    return f"{foreign} cores" if foreign > 0.3 else "no"


def _cpu(r: dict) -> str:
    return " / ".join(str(r.get(f"{name}_cpu", "—"))
                      for name in ("workers", "broker", "db", "server", "devices"))


def goals(result: dict) -> list[tuple[str, str, str, str]]:
    rows = []
    ingest = result.get("ingest", {})
    mqtt = {k: v for k, v in ingest.items() if k.startswith("mqtt-")}
    for r in mqtt.values():
        n = r["readings_per_message"]
        rows.append((f"MQTT ingest ≥ 10,000 readings/s end to end, 2 workers "
                     f"({n} reading{'s' if n > 1 else ''} a message)",
                     f"{r['committed_per_s']:,}/s committed ({r['answered_per_s']:,} "
                     f"messages/s answered)",
                     _status(r["committed_per_s"] >= GOALS["readings_per_s"]), _busy(r)))
    if "http" in ingest:
        r = ingest["http"]
        rows.append(("HTTP batch ingest, same run (batches of 500, 4 in flight, one uvicorn)",
                     f"{r['readings_per_s']:,}/s", "—", _busy(r)))
    hold = result.get("hold")
    if hold:
        c, run = hold["connect"], hold["run"]
        rows.append((f"{GOALS['devices']:,} devices connected to the broker at once",
                     f"{c['connected']:,} in {c['seconds']} s, {sum(c['failures'].values())} "
                     f"failed, {hold['still_connected']:,} still connected after "
                     f"{run['seconds']:.0f} s",
                     _status(c["connected"] >= GOALS["devices"]
                             and hold["still_connected"] >= GOALS["devices"]), _busy(c)))
        rows.append((f"the workers keep up with them ({result['hold_rate']:g} messages/s)",
                     f"{run['answers']:,} of {run['published']:,} answered, "
                     f"{run['unanswered_after_drain']} unanswered after the drain",
                     _status(run["published"] > 0 and run["unanswered_after_drain"] == 0),
                     _busy(run)))
    for transport, r in result.get("latency", {}).items():
        rows.append((f"device → dashboard latency, {transport.upper()} "
                     f"({r.get('rate', 0):g} readings/s)",
                     f"p50 {r.get('p50_ms')} ms, p99 {r.get('p99_ms')} ms "
                     f"({r.get('matched')}/{r.get('sent')} matched)", "measured", "—"))
    return rows


def render(result: dict) -> str:
    table = "| goal | measured | status | machine busy |\n|---|---|---|---|\n" + "".join(
        f"| {a} | {b} | {c} | {d} |\n" for a, b, c, d in goals(result))
    detail = ("| run | seconds | published | PUBACKs | answered | readings accepted | "
              "committed/s | CPU workers / broker / PostgreSQL / server / devices |\n"
              "|---|---|---|---|---|---|---|---|\n")
    for name, r in result.get("ingest", {}).items():
        if name == "http":
            detail += (f"| HTTP | {r['seconds']} | {r['requests']:,} requests | — | — | "
                       f"{r['accepted']:,} | {r['readings_per_s']:,} | {_cpu(r)} |\n")
        else:
            detail += (f"| MQTT, {r['readings_per_message']} a message | {r['seconds']} | "
                       f"{r['published']:,} | {r['pubacks']:,} | {r['answers']:,} | "
                       f"{r['accepted']:,} | {r['committed_per_s']:,} | {_cpu(r)} |\n")
    hold = result.get("hold")
    if hold:
        c, run = hold["connect"], hold["run"]
        detail += (f"| hold: connect | {c['seconds']} | — | — | — | — | — | {_cpu(c)} |\n"
                   f"| hold: {result['hold_rate']:g} messages/s | {run['seconds']} | "
                   f"{run['published']:,} | {run['pubacks']:,} | {run['answers']:,} | "
                   f"{run['accepted']:,} | — | {_cpu(run)} |\n")
    notes = []
    if hold:
        c = hold["connect"]
        notes.append(f"Connecting {c['new']:,} devices: p50 {c['connect_p50_ms']} ms, p99 "
                     f"{c['connect_p99_ms']} ms (CONNECT → SUBACK of its `…/ack`, 500 at a "
                     f"time); broker RSS {hold['broker_rss_before_mb']} MB before, "
                     f"{hold['broker_rss_after_mb']} MB after ({hold['broker_kb_per_device']} "
                     f"KB a device: \"before\" is taken after the ingest step, whose queued "
                     f"messages "
                     f"left memory in the broker's allocator that the connections reused; "
                     f"the broker held 5,000 devices in {hold['broker_rss_after_mb']} MB).")
    p = result.get("provision")
    if p:
        notes.append(f"Provisioning {p['devices']:,} device clients "
                     f"({p.get('how', 'over the control topic')}): {p['seconds']} s, "
                     f"{p['errors']} errors.")
    for transport, r in result.get("latency", {}).items():
        notes.append(f"Latency {transport}: p50 {r.get('p50_ms')} ms, p90 {r.get('p90_ms')} "
                     f"ms, p99 {r.get('p99_ms')} ms, max {r.get('max_ms')} ms; "
                     f"{r.get('matched')} of {r.get('sent')} readings matched"
                     + (f", HTTP statuses {r.get('http_statuses')}"
                        if transport == "http" else "") + ".")
    return (
        f"Devices over MQTT ({result['started']}, git `{result['git']}`, "
        f"{result['machines']:,} machines; a private Mosquitto with the project's "
        f"configuration, 2 `manage.py mqtt_ingest` workers, one uvicorn process, PostgreSQL + "
        f"Redis, all on the same 2-core machine shared with other work). Devices: "
        f"{result['credentials']}, MQTT 3.1.1 from one asyncio process "
        f"(bench/clients/mqtt_devices.py). Ingest: {result['ingest_devices']} devices, each "
        f"keeping {result['window']} messages unanswered on its `…/ack`, "
        f"{result['seconds']:g} s a run. Latency: {result['latency_machines']} machines, "
        f"{result['latency_rate']:g} readings/s. Hold: {result['hold_devices']:,} devices "
        f"for {result['hold_seconds']:g} s.\n\n" + table
        + "\nCPU in cores (1.0 = one core busy for the whole run; the workers' is both "
        "together).\n\n" + detail + "\n" + "\n".join(f"- {n}" for n in notes) + "\n")


def write(result: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "mqtt-latest.jsonl").write_text(json.dumps(result) + "\n")
    (RESULTS / "mqtt-latest.md").write_text(render(result))
