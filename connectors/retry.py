"""What to do after a send: retry when, dead-letter, or stop. Pure and deterministic.

Only :class:`Transient` is retried: exponential backoff with full jitter (a uniformly random
delay between 0 and ``base_s * 2**(attempt-1)``, capped), so a burst of failures does not
return as a synchronised burst. A provider's Retry-After is a floor, never shortened.
:class:`Unknown` is never retried blindly (neither SendGrid nor Twilio dedupes): it is held
for reconciliation. The random source is injected, so a seeded ``random.Random`` gives
reproducible schedules in tests and simulations.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TypeAlias

from .base import Delivered, Permanent, SendResult, Transient, Unknown


@dataclass(frozen=True, slots=True)
class Done:
    """Accepted by the provider; nothing more to do."""

    provider_id: str


@dataclass(frozen=True, slots=True)
class RetryIn:
    """Try again after ``delay_s`` seconds (attempt number ``next_attempt``)."""

    delay_s: float
    next_attempt: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Give up: permanent failure or attempts exhausted; ``opted_out`` means suppress."""

    reason: str
    opted_out: bool = False


@dataclass(frozen=True, slots=True)
class Hold:
    """Outcome unknown: do not resend automatically; reconcile (events, operator)."""

    reason: str


Decision: TypeAlias = Done | RetryIn | DeadLetter | Hold


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for transient failures; ``decide`` maps a result and attempt to a Decision."""

    max_attempts: int = 6
    base_s: float = 2.0
    max_delay_s: float = 900.0
    max_retry_after_s: float = 3600.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts {self.max_attempts!r} must be at least 1.")
        if self.base_s <= 0 or self.max_delay_s < self.base_s:
            raise ValueError(
                f"backoff base {self.base_s!r} s must be positive and at most max_delay_s "
                f"{self.max_delay_s!r} s."
            )

    def backoff(self, attempt: int) -> float:
        """Full-jitter delay after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay_s, self.base_s * 2 ** max(0, attempt - 1))
        return self.rng.uniform(0.0, ceiling)

    def decide(self, result: SendResult, attempt: int) -> Decision:
        """The next step after ``attempt`` (1-based) ended with ``result``."""
        match result:
            case Delivered(provider_id):
                return Done(provider_id)
            case Permanent(reason, opted_out, _):
                return DeadLetter(reason, opted_out=opted_out)
            case Unknown(reason, _):
                return Hold(reason)
            case Transient(reason, retry_after_s, _):
                return self._transient(reason, retry_after_s, attempt)

    def _transient(self, reason: str, retry_after_s: float | None, attempt: int) -> Decision:
        if attempt >= self.max_attempts:
            return DeadLetter(f"gave up after {attempt} attempts; last: {reason}")
        if retry_after_s is not None and retry_after_s > self.max_retry_after_s:
            return DeadLetter(
                f"provider asked to wait {retry_after_s:g} s, beyond the "
                f"{self.max_retry_after_s:g} s limit; last: {reason}"
            )
        delay = self.backoff(attempt)
        if retry_after_s is not None:
            delay = max(delay, retry_after_s)
        return RetryIn(delay, attempt + 1)

