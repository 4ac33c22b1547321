"""Equal immutable values that many sockets keep, stored once per process."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class SharedValues(Generic[T]):
    """One instance of each distinct value, for all the sockets of the process, instead of
    a copy per socket (idle memory per connection): `shared(value)` returns the stored
    instance equal to `value`, made by `make` (e.g. with interned strings) the first time.
    Few distinct values exist (organization sets, the rooms of a subscription); the cap
    only bounds a pathological mix."""

    def __init__(self, make: Callable[[T], T], *, max_values: int = 10_000) -> None:
        self._make = make
        self.max_values = max_values
        self._values: dict[T, T] = {}

    def __call__(self, value: T) -> T:
        shared = self._values.get(value)
        if shared is None:
            if len(self._values) >= self.max_values:
                self._values.clear()
            shared = self._values[value] = self._make(value)
        return shared


def interned(strings: Iterable[str]) -> list[str]:
    return [sys.intern(string) for string in strings]
