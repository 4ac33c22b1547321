"""Reads that concurrent callers share (the connect path of a reconnect storm): database
reads by key (`BatchedLoad`) and a read without arguments (`SharedRead`)."""

from __future__ import annotations

import asyncio
import itertools
import weakref
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from channels.db import database_sync_to_async

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
    """Database reads that concurrent callers share: keys asked for while a read runs wait
    for the next one, which fetches all of them in one `database_sync_to_async` call of
    `load_many` (keys -> values; a missing key reads as None).

    A key is always read by a call that starts after it was asked for, so callers get data
    as fresh as a read of their own (what the snapshot-after-join rule needs, and why a
    revoked membership is seen at the next connect). Reads start at least `min_interval`
    seconds apart: a lone caller is read at once, but under a reconnect storm the reads do
    not run back to back, each serving the few callers that came during the previous one
    (and holding the GIL that the event loop needs); they batch hundreds instead."""

    def __init__(self, load_many: Callable[[frozenset[K]], dict[K, V]], *,
                 max_keys: int = 1000, min_interval: float = 0.05) -> None:
        self._load_many = database_sync_to_async(load_many)
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


class _SharedReads:
    """A SharedRead's state on one event loop."""

    __slots__ = ("waiting", "reading")

    def __init__(self) -> None:
        self.waiting: list[asyncio.Future] = []
        self.reading = False


class SharedRead(Generic[V]):
    """An async read without arguments (e.g. the head of the event history) that concurrent
    callers share: callers asking while a read runs wait for the next one, which serves
    them all. As with BatchedLoad, a caller always gets the result of a read that started
    after it asked, as fresh as a read of its own; a reconnect storm makes a read per round
    trip instead of one per client."""

    def __init__(self, read: Callable[[], Awaitable[V]]) -> None:
        self._read = read
        self._reads: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _SharedReads] = (
            weakref.WeakKeyDictionary())

    async def __call__(self) -> V:
        loop = asyncio.get_running_loop()
        reads = self._reads.get(loop)
        if reads is None:
            reads = self._reads[loop] = _SharedReads()
        future = loop.create_future()
        reads.waiting.append(future)
        if not reads.reading:
            reads.reading = True
            loop.create_task(self._read_while_waiting(reads))
        return await future

    async def _read_while_waiting(self, reads: _SharedReads) -> None:
        try:
            while reads.waiting:
                batch, reads.waiting = reads.waiting, []
                try:
                    value = await self._read()
                except Exception as exc:
                    for future in batch:
                        if not future.done():  # done: the caller was cancelled
                            future.set_exception(exc)
                else:
                    for future in batch:
                        if not future.done():
                            future.set_result(value)
        finally:
            reads.reading = False
