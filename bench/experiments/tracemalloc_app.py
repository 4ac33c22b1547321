"""The product ASGI app with tracemalloc on: `kill -USR1 <pid>` writes the top allocation
sites (by line, and by file) to $BENCH_TRACEMALLOC_OUT. For the idle-memory breakdown.

    uvicorn bench.experiments.tracemalloc_app:application --ws websockets-sansio
"""

from __future__ import annotations

import os
import signal
import tracemalloc

tracemalloc.start(1)
_baseline = None

from vendhub.asgi import application  # noqa: E402,F401


def _dump(signum, frame) -> None:
    global _baseline
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    out = os.environ.get("BENCH_TRACEMALLOC_OUT", "/tmp/bench-tracemalloc.txt")
    if _baseline is None:
        _baseline = snapshot
        with open(out, "w") as f:
            f.write("baseline taken\n")
        return
    with open(out, "w") as f:
        for key in ("lineno", "filename"):
            stats = snapshot.compare_to(_baseline, key)
            total = sum(s.size_diff for s in stats)
            f.write(f"== by {key}: total {total / 1024:.0f} KiB\n")
            for stat in stats[:30]:
                f.write(
                    f"{stat.size_diff / 1024:10.1f} KiB {stat.count_diff:8d} {stat.traceback}\n"
                )


signal.signal(signal.SIGUSR1, _dump)
