"""`rate limit NAME N per DURATION`: at most N sends in any DURATION, as a sliding window.

A token bucket holding N tokens lets 2N through in one window (N saved up while idle plus N
refilled during it), which breaks the promise the language makes; the storm trials measured
38 requests in one second under `rate limit email 20 per 1s`. This window counts each send
while its request is out and until DURATION after it *finished* (`settle`), which covers the
moment the provider saw it arrive, so the provider never sees more than N in any window of
DURATION either, however many requests are out at once.
"""

from __future__ import annotations

import threading
import time
from collections import deque
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
    """One request's place in the window, counted until settled and `per_s` after that."""

    __slots__ = ("settled",)

    def __init__(self) -> None:
        self.settled = False


class SendWindow:
    """At most ``count`` sends in any ``per_s`` seconds; thread-safe; injectable clock.

    Several requests may be out at once (a connector's `concurrency`) and finish in any
    order. A request counts from the moment it is taken until `per_s` after it finished,
    however long it takes: the provider saw it arrive somewhere in between. Finished ones
    are kept in the order they finished (the clock only moves forward), so taking a slot
    costs the same at any limit."""

    def __init__(self, count: int, per_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if count < 1 or per_s <= 0:
            raise ValueError(f"a send window needs a positive count and duration "
                             f"(got {count!r} per {per_s!r} s).")
        self.count, self.per_s, self._clock = count, per_s, clock
        self._finished: deque[float] = deque()
        self._out = 0  # taken and not settled yet
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        while self._finished and self._finished[0] <= now - self.per_s:
            self._finished.popleft()

    def take(self) -> _Slot | None:
        with self._lock:
            self._expire(self._clock())
            if len(self._finished) + self._out >= self.count:
                return None
            self._out += 1
            return _Slot()

    def try_acquire(self) -> bool:
        """Take a slot now for a send counted from now (none left out); never waits."""
        slot = self.take()
        self.settle(slot)
        return slot is not None

    def settle(self, slot: object = None) -> None:
        """`slot`'s request has finished (or will not be made): count it from now on."""
        if not isinstance(slot, _Slot) or slot.settled:
            return
        with self._lock:
            slot.settled = True
            self._out -= 1
            self._finished.append(self._clock())

    def wait_time(self) -> float:
        """Seconds until a slot frees (0.0 when one is free now); when only requests still
        out fill the window, a whole window (their finish is not known yet)."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            if len(self._finished) + self._out < self.count:
                return 0.0
            if not self._finished:
                return self.per_s
            return self._finished[0] + self.per_s - now
