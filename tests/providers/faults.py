"""Scripted failures for the fake providers: consumed one per request, in order.

`FaultPlan` is a queue (the next n requests fail); `StormPlan` cycles through bursts of
faults and calm stretches, for the fault-storm trials (tests/reliability/test_storms.py).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Fault:
    """``status``: answer with an error; ``slow``: answer after ``delay_s``; ``drop``: hang up
    without acting on the request; ``accept_drop``: act on it (the provider accepted it), then
    hang up without answering, so the client cannot tell it from ``drop``.

    For SMTP, ``status`` is a reply code and ``stage`` says where (``rcpt`` or ``data``).
    """

    kind: Literal["status", "slow", "drop", "accept_drop"]
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


class StormPlan(FaultPlan):
    """Bursts: ``segments`` of (fault or None for calm, requests) repeated in order.

    Every request draws the next position, so a retried message meets whatever the storm is
    doing when it comes back, as against a real provider. ``limit`` ends the storm after that
    many requests (calm from then on); ``drawn`` counts the faults handed out, by label.
    """

    def __init__(self, segments: list[tuple[Fault | None, int]], limit: int | None = None,
                 ) -> None:
        super().__init__()
        self._cycle = [fault for fault, n in segments for _ in range(n)]
        if not self._cycle:
            raise ValueError(f"a storm needs at least one request in its segments: {segments!r}")
        self._limit = limit
        self._drawn = 0
        self.counts: dict[str, int] = {}

    def next(self, stage: str | None = None) -> Fault | None:
        queued = super().next(stage)
        if queued is not None:
            return queued
        with self._lock:
            position = self._drawn
            self._drawn += 1
            if self._limit is not None and position >= self._limit:
                return None
            fault = self._cycle[position % len(self._cycle)]
            if fault is not None:
                label = label_of(fault)
                self.counts[label] = self.counts.get(label, 0) + 1
            return fault


def label_of(fault: Fault | None) -> str:
    """A short name for reports: ``429``, ``500``, ``slow``, ``drop``, ``accept_drop``, ``none``."""
    if fault is None:
        return "none"
    return str(fault.status) if fault.kind == "status" else fault.kind
