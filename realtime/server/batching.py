"""Reads that concurrent callers share (the connect path of a reconnect storm): reads by key
(`BatchedLoad`, e.g. the viewers of users who connect together) and a read without
arguments (`shared_read`, e.g. the head of the event history)."""

from __future__ import annotations

import asyncio
import functools
import itertools
import weakref
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from . import metrics

K = TypeVar("K")
V = TypeVar("V")


class _Reads:
    """A BatchedLoad's state on one event loop."""

    __slots__ = ("waiting", "reading", "last_start")

    def __init__(self) -> None:
        self.waiting: dict = {}  # key -> futures of its callers
        self.reading = False
        self.last_start = float("-inf")


class BatchedLoad(Generic[K, V]):
    """Reads that concurrent callers share: keys asked for while a read runs wait for the
    next one, which fetches all of them in one call of `load_many` (an async function:
    keys -> values; a missing key reads as None; wrap a database read in
    `database_sync_to_async`).

    A key is always read by a call that starts after it was asked for, so callers get data
    as fresh as a read of their own (what the snapshot-after-join rule needs, and why a
    revoked membership is seen at the next connect). Reads start at least `min_interval`
    seconds apart: a lone caller is read at once, but under a reconnect storm the reads do
    not run back to back, each serving the few callers that came during the previous one
    (and holding the GIL that the event loop needs); they batch hundreds instead."""

    def __init__(self, load_many: Callable[[frozenset[K]], Awaitable[dict[K, V]]], *,
                 max_keys: int = 1000, min_interval: float = 0.05, name: str = "") -> None:
        self._load_many = load_many
        #: With a name, each read and the callers it answered are counted in the metrics
        #: (`vendhub_realtime_batched_reads_total{read=name}`): how well reads are shared.
        self._counted = (
            (metrics.batched_reads.labels(read=name), metrics.batched_callers.labels(read=name))
            if name else None)
        self.max_keys = max_keys
        self.min_interval = min_interval
        #: Per event loop: tests run several, and futures belong to one.
        self._reads: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Reads] = (
            weakref.WeakKeyDictionary())

    async def load(self, key: K) -> V | None:
        loop = asyncio.get_running_loop()
        reads = self._reads.get(loop)
        if reads is None:
            reads = self._reads[loop] = _Reads()
        future = loop.create_future()
        reads.waiting.setdefault(key, []).append(future)
        if not reads.reading:
            reads.reading = True
            loop.create_task(self._read_while_waiting(loop, reads))
        return await future

    async def _read_while_waiting(self, loop: asyncio.AbstractEventLoop, reads: _Reads) -> None:
        try:
            while reads.waiting:
                pause = reads.last_start + self.min_interval - loop.time()
                if pause > 0:
                    await asyncio.sleep(pause)
                reads.last_start = loop.time()
                keys = list(itertools.islice(reads.waiting, self.max_keys))
                batch = {key: reads.waiting.pop(key) for key in keys}
                if self._counted is not None:
                    self._counted[0].inc()
                    self._counted[1].inc(sum(len(futures) for futures in batch.values()))
                try:
                    values = await self._load_many(frozenset(batch))
                except Exception as exc:
                    values, error = {}, exc
                else:
                    error = None
                for key, futures in batch.items():
                    for future in futures:
                        if future.done():  # the caller was cancelled
                            continue
                        if error is not None:
                            future.set_exception(error)
                        else:
                            future.set_result(values.get(key))
        finally:
            reads.reading = False



def shared_read(read: Callable[[], Awaitable[V]]) -> Callable[[], Awaitable[V]]:
    """`read` (an async read without arguments) shared by concurrent callers: a BatchedLoad
    of one key, with reads back to back. A caller gets the result of a read that started
    after it asked, as fresh as a read of its own; a reconnect storm makes one read per
    round trip instead of one per client."""

    async def read_for(keys: frozenset) -> dict:
        return dict.fromkeys(keys, await read())

    return functools.partial(BatchedLoad(read_for, min_interval=0).load, None)
