"""An in-memory connector that records every message: the simulator's and the tests' fake.

Results can be scripted per call (a queue consumed in order) or per recipient, so tests
and simulations can exercise the engine's handling of 429s, opt-outs and unknown outcomes
without a network.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .base import Channel, Delivered, Message, SendResult, wrong_channel
from .redact import get_logger


@dataclass(frozen=True, slots=True)
class Sent:
    """One recorded call: the message and the result the recorder returned for it."""

    message: Message
    result: SendResult


@dataclass(eq=False)
class RecorderConnector:
    """Keeps every message in memory, in call order; thread-safe.

    ``script`` results are returned one per call before falling back to ``by_recipient``
    and finally to :class:`Delivered`.
    """

    name: str
    channel: Channel
    script: Iterable[SendResult] = ()
    by_recipient: Mapping[str, SendResult] = field(default_factory=dict)
    # False: count calls but keep no message (a simulation's millions of sends are in the
    # store already; kept here too they were the largest part of its memory).
    keep: bool = True
    _calls: int = field(default=0, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _queue: deque[SendResult] = field(default_factory=deque, init=False, repr=False)
    _sent: list[Sent] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self._queue.extend(self.script)
        self.by_recipient = dict(self.by_recipient)

    def send(self, message: Message) -> SendResult:
        """Record ``message`` and return the scripted (or a delivered) result."""
        if (mismatch := wrong_channel(self, message)) is not None:
            return mismatch
        with self._lock:
            self._calls += 1
            result = self._next_result(message)
            if self.keep:
                self._sent.append(Sent(message, result))
        if self.keep:  # else a simulation's: the store has each message; a line each repeats it
            get_logger(self.name, self.channel, message_id=message.message_id).info(
                "connector.recorded", outcome=type(result).__name__.lower()
            )
        return result

    def _next_result(self, message: Message) -> SendResult:
        if self._queue:
            return self._queue.popleft()
        if message.to in self.by_recipient:
            return self.by_recipient[message.to]
        return Delivered(f"recorded-{self._calls}")

    def push(self, *results: SendResult) -> None:
        """Script the next results, returned in order before any default."""
        with self._lock:
            self._queue.extend(results)

    @property
    def sent(self) -> tuple[Sent, ...]:
        """A snapshot of every call so far, in order."""
        with self._lock:
            return tuple(self._sent)

    @property
    def messages(self) -> tuple[Message, ...]:
        """A snapshot of every message so far, in order."""
        return tuple(call.message for call in self.sent)

    def clear(self) -> None:
        """Forget recorded calls and scripted results (between simulation runs)."""
        with self._lock:
            self._sent.clear()
            self._queue.clear()
