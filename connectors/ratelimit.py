"""A thread-safe token bucket with an injectable clock, for per-connector rate limits.

Providers throttle per account (SendGrid, Twilio per sender/number); sending slower than
their limit avoids 429s, which cost a round trip and a backoff each. The clock and the
sleep are injected so the engine's virtual clock and the tests drive it without waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """``rate`` tokens per second, bursting up to ``capacity``; starts full."""

    def __init__(
        self, rate: float, capacity: float | None = None, *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"token bucket rate {rate!r} must be positive; use e.g. 10.0/s.")
        self.rate = rate
        self.capacity = float(capacity if capacity is not None else max(1.0, rate))
        if self.capacity <= 0:
            raise ValueError(f"token bucket capacity {capacity!r} must be positive.")
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._stamp = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def try_acquire(self, tokens: float = 1.0) -> bool:
        """Take ``tokens`` now if available; never waits."""
        return self.wait_time(tokens, take=True) == 0.0

    def take(self) -> bool | None:
        """A token now (True), or None when empty: the dispatcher's rate-limit protocol."""
        return True if self.try_acquire() else None

    def settle(self, slot: object = None) -> None:
        """Nothing to do: a token is spent when taken, not when its request finishes."""

    def wait_time(self, tokens: float = 1.0, *, take: bool = False) -> float:
        """Seconds until ``tokens`` are available (0.0 if now); ``take`` them when 0.0."""
        if tokens > self.capacity:
            raise ValueError(
                f"cannot take {tokens!r} tokens from a bucket holding at most {self.capacity!r}."
            )
        with self._lock:
            self._refill()
            if self._tokens >= tokens:
                if take:
                    self._tokens -= tokens
                return 0.0
            return (tokens - self._tokens) / self.rate

    def acquire(self, tokens: float = 1.0, timeout: float | None = None) -> bool:
        """Wait until ``tokens`` are taken; False if that would exceed ``timeout`` seconds."""
        deadline = None if timeout is None else self._clock() + timeout
        while True:
            wait = self.wait_time(tokens, take=True)
            if wait == 0.0:
                return True
            if deadline is not None and self._clock() + wait > deadline:
                return False
            # Sleep outside the lock so other threads can refill-check meanwhile.
            self._sleep(wait)
