"""tracemalloc_app with deep tracebacks, for the idle-memory breakdown by call site:
`kill -USR1 <pid>` dumps a snapshot to $BENCH_TRACEMALLOC_OUT.0, the next one to .1, and
so on (bench/experiments/idle_memory.py compares the first two).

    uvicorn bench.experiments.tracemalloc_deep:application --ws websockets-sansio
"""

from __future__ import annotations

import itertools
import os
import signal
import tracemalloc

# Started before tracemalloc_app starts it with one frame (a second start keeps the first).
tracemalloc.start(int(os.environ.get("BENCH_TRACEMALLOC_FRAMES", "12")))

from bench.experiments.tracemalloc_app import application  # noqa: E402,F401

_dumps = itertools.count()


def _dump(signum, frame) -> None:
    out = os.environ.get("BENCH_TRACEMALLOC_OUT", "/tmp/bench-tracemalloc")
    path = f"{out}.{next(_dumps)}"
    tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    ).dump(path + ".tmp")
    os.replace(path + ".tmp", path)  # complete files only


signal.signal(signal.SIGUSR1, _dump)
