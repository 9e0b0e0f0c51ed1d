"""`rate limit NAME N per DURATION`: at most N sends in any DURATION, as a sliding window.

A token bucket holding N tokens lets 2N through in one window (N saved up while idle plus N
refilled during it), which breaks the promise the language makes; the storm trials measured
38 requests in one second under `rate limit email 20 per 1s`. This window counts each send
from the moment its request *finished* (`settle`), which is after the provider saw it arrive,
so the provider never sees more than N in any window of DURATION either.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class Limit(Protocol):
    """What the dispatcher needs from a rate limit (TokenBucket fits too)."""

    def take(self) -> object | None:
        """A slot for one request now, or None over the limit; never waits."""
        ...

    def settle(self, slot: object = None) -> None:
        """The request of `slot` has finished."""
        ...

    def wait_time(self) -> float: ...


class _Slot:
    __slots__ = ("at",)

    def __init__(self, at: float) -> None:
        self.at = at


class SendWindow:
    """At most ``count`` sends in any ``per_s`` seconds; thread-safe; injectable clock.

    Several requests may be out at once (a connector's `concurrency`), and they finish in any
    order: each slot is settled on its own, so the slots are not kept in time order."""

    def __init__(self, count: int, per_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if count < 1 or per_s <= 0:
            raise ValueError(f"a send window needs a positive count and duration "
                             f"(got {count!r} per {per_s!r} s).")
        self.count, self.per_s, self._clock = count, per_s, clock
        self._slots: list[_Slot] = []
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        if self._slots and min(s.at for s in self._slots) <= now - self.per_s:
            self._slots = [s for s in self._slots if s.at > now - self.per_s]

    def take(self) -> _Slot | None:
        with self._lock:
            now = self._clock()
            self._expire(now)
            if len(self._slots) >= self.count:
                return None
            slot = _Slot(now)
            self._slots.append(slot)
            return slot

    def try_acquire(self) -> bool:
        """Take a slot now if the window has one; never waits."""
        return self.take() is not None

    def settle(self, slot: object = None) -> None:
        """`slot`'s request has finished: count it from now on."""
        if isinstance(slot, _Slot):
            with self._lock:
                slot.at = self._clock()

    def wait_time(self) -> float:
        """Seconds until a slot frees (0.0 when one is free now)."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            if len(self._slots) < self.count:
                return 0.0
            return min(s.at for s in self._slots) + self.per_s - now
