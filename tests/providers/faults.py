"""Scripted failures for the fake providers: consumed one per request, in order."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Fault:
    """``status``: answer with an error; ``slow``: answer after ``delay_s``; ``drop``: hang up.

    For SMTP, ``status`` is a reply code and ``stage`` says where (``rcpt`` or ``data``).
    """

    kind: Literal["status", "slow", "drop"]
    status: int = 500
    retry_after: str | None = None
    delay_s: float = 2.0
    stage: Literal["rcpt", "data"] = "rcpt"


class FaultPlan:
    """A thread-safe queue of faults; ``add(fault, times=n)`` fails the next n requests."""

    def __init__(self) -> None:
        self._queue: deque[Fault] = deque()
        self._lock = threading.Lock()

    def add(self, fault: Fault, times: int = 1) -> None:
        with self._lock:
            self._queue.extend([fault] * times)

    def next(self, stage: str | None = None) -> Fault | None:
        with self._lock:
            if self._queue and (stage is None or self._queue[0].stage == stage):
                return self._queue.popleft()
            return None

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
