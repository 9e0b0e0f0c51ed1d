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
from collections import deque
from collections.abc import Callable
from typing import Protocol


class Limit(Protocol):
    """What the dispatcher needs from a rate limit (TokenBucket fits too)."""

    def try_acquire(self) -> bool: ...

    def settle(self) -> None: ...

    def wait_time(self) -> float: ...


class SendWindow:
    """At most ``count`` sends in any ``per_s`` seconds; thread-safe; injectable clock."""

    def __init__(self, count: int, per_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if count < 1 or per_s <= 0:
            raise ValueError(f"a send window needs a positive count and duration "
                             f"(got {count!r} per {per_s!r} s).")
        self.count, self.per_s, self._clock = count, per_s, clock
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self.per_s:
            self._sent.popleft()

    def try_acquire(self) -> bool:
        """Take a slot now if the window has one; never waits."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            if len(self._sent) >= self.count:
                return False
            self._sent.append(now)
            return True

    def settle(self) -> None:
        """The newest send's request has finished: count it from now on."""
        with self._lock:
            if self._sent:
                self._sent[-1] = self._clock()

    def wait_time(self) -> float:
        """Seconds until a slot frees (0.0 when one is free now)."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            if len(self._sent) < self.count:
                return 0.0
            return self._sent[0] + self.per_s - now
