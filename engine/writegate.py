"""A first-come, first-served gate in front of SQLite's single write lock.

SQLite lets one transaction write at a time; the others wait in its busy handler, which polls
with sleeps that grow to 100 ms and gives the lock to whichever poll happens to land after a
commit. Under `serve` that is unfair: the ticker commits a batch and starts the next one before
a waiting ingest request wakes, so a request can lose the race many times in a row (measured:
p99 of a `/v1/batch` above one second while the median was 11 ms). Within one process the gate
queues transactions in arrival order and hands the lock straight to the next in line, so a
request waits for the transactions ahead of it and no longer. Other processes still meet
SQLite's busy handler; one process per SQLite store is the supported layout.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field


@dataclass(eq=False)
class _Waiter:
    owner: object
    turn: threading.Event = field(default_factory=threading.Event)


class WriteGate:
    """A FIFO lock owned by a connection; `release` by anyone but the owner does nothing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: object | None = None
        self._queue: deque[_Waiter] = deque()

    @property
    def owner(self) -> object | None:
        return self._owner

    def waiting(self) -> int:
        """How many transactions wait for the gate now."""
        return len(self._queue)

    def acquire(self, owner: object, timeout: float) -> bool:
        """Wait for the gate in arrival order; False if `timeout` seconds pass first."""
        with self._lock:
            if self._owner is None and not self._queue:
                self._owner = owner
                return True
            if self._owner is owner:
                return True  # the same connection beginning again: it already holds the gate
            waiter = _Waiter(owner)
            self._queue.append(waiter)
        if waiter.turn.wait(timeout):
            return True
        with self._lock:
            if waiter.turn.is_set():  # handed over while the wait was timing out
                return True
            self._queue.remove(waiter)
            return False

    def release(self, owner: object) -> None:
        with self._lock:
            if self._owner is not owner:
                return
            if self._queue:
                waiter = self._queue.popleft()
                self._owner = waiter.owner
                waiter.turn.set()
            else:
                self._owner = None
