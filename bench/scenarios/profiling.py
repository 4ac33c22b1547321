"""A py-spy profile of a server process while a step runs, summarized as self and inclusive
time per function (collapsed stacks are kept under bench/results/)."""

from __future__ import annotations

import asyncio
import shutil
import signal
from collections import Counter
from pathlib import Path

from ..procs import PYTHON, Proc, wait_quiet

TOP = 25


def py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
    return found if Path(found).exists() else None


async def profile_step(ctx, target, server, run_step, label: str = "fanout", *,
                       gil: bool = False) -> dict:
    """`gil`: sample only the thread holding the GIL (what runs Python code), when a
    worker thread (database reads) would otherwise show the event loop's thread waiting
    for the GIL at whatever line it stands."""
    exe = py_spy()
    if exe is None:
        return {"error": "py-spy is not installed"}
    out = ctx.workdir.parent / f"profile-{label}-{target.name}-{ctx.run_id}.txt"
    await wait_quiet()
    # Record until the step is over, then SIGINT: py-spy writes its output and exits.
    spy = Proc(
        f"{label}-{target.name}-py-spy",
        [
            exe,
            "record",
            "--pid",
            str(server.pid),
            "--rate",
            "250",
            "--nonblocking",
            *(["--gil"] if gil else []),
            "--format",
            "raw",
            "--duration",
            "120",
            "-o",
            str(out),
        ],
    )
    await spy.start()
    await asyncio.sleep(0.5)
    try:
        row = await run_step()
    finally:
        if spy.process.returncode is None:
            spy.process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(spy.process.wait(), 30)
        except TimeoutError:
            await spy.stop()
    summary = summarize(out) if out.exists() else {"error": spy.log_tail()}
    summary["file"] = str(out.relative_to(ctx.workdir.parent.parent.parent))
    summary["label"] = label
    for key in ("delivered_fps", "server_us_per_frame", "readings_per_s", "server_us_per_reading"):
        if key in row:
            summary["step_" + key] = row[key]
    return summary


def summarize(path: Path) -> dict:
    self_time: Counter = Counter()
    inclusive: Counter = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_short(f) for f in stack.split(";")]
        self_time[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    pct = lambda c: round(100 * c / total, 1) if total else 0  # noqa: E731
    return {
        "samples": total,
        "self_top": [[f, pct(c)] for f, c in self_time.most_common(TOP)],
        "inclusive_top": [[f, pct(c)] for f, c in inclusive.most_common(TOP + 15)],
    }


def _short(frame: str) -> str:
    # "deliver (realtime/server/hub.py:87)" with site-packages and the repo root trimmed
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name
