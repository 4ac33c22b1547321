"""A py-spy profile of a server process while a step runs, summarized as self and inclusive
time per function (collapsed stacks are kept under bench/results/)."""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from pathlib import Path

from ..procs import PYTHON, Proc

TOP = 25


def py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
    return found if Path(found).exists() else None


async def profile_step(ctx, target, server, run_step) -> dict:
    exe = py_spy()
    if exe is None:
        return {"error": "py-spy is not installed"}
    out = ctx.workdir.parent / f"profile-{target.name}-{ctx.run_id}.txt"
    duration = max(ctx.p["step_seconds"], 5.0)
    spy = Proc(
        f"{target.name}-py-spy",
        [
            exe,
            "record",
            "--pid",
            str(server.pid),
            "--rate",
            "250",
            "--nonblocking",
            "--format",
            "raw",
            "--duration",
            str(int(duration)),
            "-o",
            str(out),
        ],
    )
    await spy.start()
    row = await run_step()
    try:
        await asyncio.wait_for(spy.process.wait(), duration + 20)
    except TimeoutError:
        await spy.stop()
    summary = summarize(out) if out.exists() else {"error": spy.log_tail()}
    summary.update(
        {
            "file": str(out.relative_to(ctx.workdir.parent.parent.parent)),
            "step_delivered_fps": row["delivered_fps"],
            "step_us_per_frame": row["server_us_per_frame"],
        }
    )
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
    # "deliver (realtime/hub.py:87)" with site-packages and the repo root trimmed
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name
