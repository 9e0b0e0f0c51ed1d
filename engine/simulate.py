"""`simulate`: the real engine on a virtual clock, over an audience and its event history.

A fresh store is filled with the audience; events are replayed in time order; the clock jumps
— never sleeping — over at least `window` seconds of virtual time per step, so work is batched.
Because the runtime replays each customer's timeline exactly, the window changes speed, not
results: unless the clock itself enrolls customers (segment and schedule entries), the whole
span is one step. Sends go to recorder connectors through the same outbox and dispatcher that
`serve` uses.
"""

from __future__ import annotations

import gc
import resource
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from cadenza.connectors import Connector
from cadenza.connectors.recorder import RecorderConnector
from cadenza.engine import shards
from cadenza.engine.dataload import Loaded
from cadenza.engine.db import open_engine, sqlite_url
from cadenza.engine.dispatch import Dispatcher
from cadenza.engine.runtime import Runtime
from cadenza.engine.schedules import SEGMENT_INTERVAL, clock_driven, trigger_segments
from cadenza.engine.state import Event
from cadenza.engine.store import Store
from cadenza.playbooks import model as m

DAY = 86_400
LOAD_SLICE = 50_000  # rows per statement when loading the audience and history
Progress = Callable[[int, int], None]
T = TypeVar("T")


def recorders(*, keep: bool = True) -> dict[str, Connector]:
    """A recording connector per channel; `keep=False` keeps no message (the store has them)."""
    return {"email": RecorderConnector(name="email", channel="email", keep=keep),
            "sms": RecorderConnector(name="sms", channel="sms", keep=keep),
            "webhook": RecorderConnector(name="webhook", channel="webhook", keep=keep),
            "task": RecorderConnector(name="task", channel="webhook", keep=keep)}


@dataclass
class Simulation:
    project: m.Project
    data: Loaded  # its events in time order, as engine/dataload.py gives them
    start: int
    end: int
    db_path: Path | None = None
    # Virtual seconds per step of the clock. None: the whole span at once (`_at_once`), or,
    # when the clock moves customers (segment or schedule entries), a day, or 15 minutes when
    # playbooks watch segments.
    window: int | None = None
    playbooks: tuple[str, ...] = ()
    # Processes the audience is split over (engine/shards.py); None: one per core (at most 4)
    # from 40,000 customers on, else one.
    parts: int | None = None
    store: Store = field(init=False)
    # Each process's peak RSS in KB, this one first: a split run's memory is their sum.
    peaks_kb: list[int] = field(init=False, default_factory=list)
    watch_segments: bool = field(init=False, default=False)
    # A part's audience and events, pickled before the fork (engine/shards.py `Packed`);
    # None: read `data`.
    packed: shards.Packed | None = None

    def __post_init__(self) -> None:
        if self.db_path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="cadenza-sim-")
            self.db_path = Path(self._tmp.name) / "simulation.db"
        elif self.db_path.exists():
            self.db_path.unlink()
        self.store = Store(open_engine(sqlite_url(self.db_path), durable=False))

    def close(self) -> None:
        """Release the store (and the temporary folder when the caller gave no --db)."""
        self.store.engine.dispose()
        tmp = getattr(self, "_tmp", None)
        if tmp is not None:
            tmp.cleanup()

    def scoped_project(self) -> m.Project:
        if not self.playbooks:
            return self.project
        chosen = {n: pb for n, pb in self.project.playbooks.items() if n in self.playbooks}
        return self.project.model_copy(update={"playbooks": chosen})

    def run(self, progress: Progress | None = None) -> Store:
        parts = self.parts or shards.default_count(len(self.data.customers))
        if not shards.can_fork():  # the parts share the audience through fork (Linux)
            parts = 1
        with fewer_collections():
            if parts <= 1:
                return self._run(progress)
            return self._run_split(parts, progress)

    def _run_split(self, parts: int, progress: Progress | None) -> Store:
        assert self.db_path is not None
        self.store.engine.dispose()  # no open connection may cross the fork
        packed: list[shards.Packed | None] = [
            shards.pack(piece, LOAD_SLICE) for piece in shards.split(self.data, parts)]
        paths = [shards.part_path(self.db_path, k) for k in range(parts)]

        def run_one(k: int, part_progress: Progress) -> None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{paths[k]}{suffix}").unlink(missing_ok=True)
            part = Simulation(project=self.project, data=Loaded(), start=self.start,
                              end=self.end, db_path=paths[k], window=self.window,
                              playbooks=self.playbooks, parts=1, packed=packed[k])
            # The other parts' slices, gone from this process (run_parts forks before it runs
            # part 0 here); this part frees its own as it loads them.
            packed[:] = [None] * parts
            try:
                part.run(part_progress)
            finally:
                part.store.engine.dispose()  # closes the file whole: its WAL checkpointed

        child_peaks = shards.run_parts(run_one, parts, self.end - self.start, progress)
        shards.merge(self.db_path, paths)
        self.store = Store(open_engine(sqlite_url(self.db_path), durable=False))
        self.peaks_kb = [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, *child_peaks]
        if progress is not None:
            progress(self.end - self.start, self.end - self.start)
        return self.store

    def _run(self, progress: Progress | None) -> Store:
        # In slices: one statement over a million rows held every row's parameters at once.
        for part in self._audience():
            self.store.upsert_customers(part, now=self.start)
        runtime = Runtime(project=self.scoped_project(), store=self.store)
        runtime.deploy(self.start)
        self.watch_segments = bool(trigger_segments(runtime.active))
        dispatcher = Dispatcher(store=self.store, connectors=recorders(keep=False),
                                virtual_time=True, record_each=False)
        events = self._load_history()
        if self.window is None and not clock_driven(runtime.active):
            self._at_once(runtime, dispatcher, events, progress)
            return self.store
        if self.window is None:
            # Each customer's timeline is replayed exactly whatever the window; only entering
            # or leaving a segment is noticed at window ends, so watch those more often.
            self.window = SEGMENT_INTERVAL if self.watch_segments else DAY
        clock = self.start
        while clock < self.end:
            target = self._next(clock, events.next_ts())
            runtime.process(events.take_until(target), target)
            while dispatcher.dispatch(target):
                pass
            clock = target
            if progress is not None:
                progress(clock - self.start, self.end - self.start)
        return self.store

    def _at_once(self, runtime: Runtime, dispatcher: Dispatcher, events: _Replay,
                 progress: Progress | None) -> None:
        """The whole span in one step of the clock: every event stored as pending, then each
        customer's timeline replayed from its first event to the end in one batch.

        Exact for the same reason any window is (customers never affect each other), and the
        fastest: a customer is loaded and written once, not once per day it has work on. Only
        playbooks the clock itself moves (segment and schedule entries, evaluated over the
        whole audience at an instant) need the clock to stop along the way."""
        span = self.end - self.start
        waiting: set[str] = set()
        for part in events.rest():
            self.store.insert_events(part, received_at=self.end)
            waiting.update(e.customer_id for e in part)
        done = 0

        def batch_done() -> None:
            nonlocal done
            done += runtime.batch_size
            if progress is not None and waiting:
                progress(min(span - 1, span * done // len(waiting)), span)

        runtime.process([], self.end, after_batch=batch_done)
        while dispatcher.dispatch(self.end):
            pass
        if progress is not None:
            progress(span, span)

    def _audience(self) -> Iterator[Sequence[dict[str, object]]]:
        if self.packed is None:
            return _slices(self.data.customers)
        return self.packed.customer_slices()

    def _load_history(self) -> _Replay:
        """Store the events before the start; what follows is replayed as the clock gets there.

        Events before the start are history: aggregates and segments see them, but they
        trigger nothing (the playbooks were not running then). The events come in time order,
        so the history is read first and the rest is read a slice at a time as it is replayed
        (a million events held at once were a tenth of a large run's memory)."""
        slices = iter(_slices(self.data.events) if self.packed is None
                      else self.packed.event_slices())
        replay = _Replay(slices, self.start, self.end)
        for part in slices:
            history = [e for e in part if e.ts < self.start]
            self.store.insert_events(history, received_at=self.start, processed=True)
            if len(history) < len(part):
                replay.push(part[len(history):])  # in time order: the history comes first
                break
        return replay

    def _next(self, clock: int, next_event: int | None) -> int:
        """The next instant worth stopping at, at least `window` ahead, at most the end."""
        assert self.window is not None
        soonest = [self.end]
        if next_event is not None:
            soonest.append(next_event)
        due = self.store.next_due()
        if due is not None:
            soonest.append(due)
        if self.watch_segments:
            # Time alone moves customers into segments (`next_birthday <= 2d from now`), with
            # nothing due and no event: jumping to the next event would skip their entry, so
            # look every window, as `serve`'s ticker does.
            return min(self.end, clock + self.window)
        return min(self.end, max(clock + self.window, min(soonest)))


class _Replay:
    """The events from `start` to `end`, read from time-ordered slices as they are taken."""

    def __init__(self, slices: Iterator[Sequence[Event]], start: int, end: int) -> None:
        self._slices, self._start, self._end = slices, start, end
        self._ready: deque[Event] = deque()

    def push(self, part: Sequence[Event]) -> None:
        for e in part:
            if e.ts < self._start:  # the history was stored before the first replayed event
                raise ValueError("a simulation's events must be in time order (as "
                                 "dataload.load_events sorts them); this is a bug in Cadenza.")
            if e.ts <= self._end:
                self._ready.append(e)

    def _fill(self) -> bool:
        while not self._ready:
            part = next(self._slices, None)
            if part is None:
                return False
            self.push(part)
        return True

    def next_ts(self) -> int | None:
        return self._ready[0].ts if self._fill() else None

    def rest(self) -> Iterator[list[Event]]:
        """Everything not taken yet, a slice at a time."""
        while self._fill():
            part = list(self._ready)
            self._ready.clear()
            yield part

    def take_until(self, target: int) -> list[Event]:
        out: list[Event] = []
        while self._fill() and self._ready[0].ts <= target:
            out.append(self._ready.popleft())
        return out


def _slices(rows: Sequence[T], size: int = LOAD_SLICE) -> Iterator[Sequence[T]]:
    for i in range(0, len(rows), size):
        yield rows[i:i + size]


def default_span(data: Loaded, start: int | None, days: int | None) -> tuple[int, int]:
    """From --start, else the last --days (30) days of the history, ending at the midnight
    after its last event: older events are history for segments and aggregates."""
    span = (days or 30) * DAY
    if start is None:
        last = data.events[-1].ts if data.events else 0
        end = last - last % DAY + DAY
        first = data.events[0].ts - data.events[0].ts % DAY if data.events else end - span
        start = max(first, end - span)
    return start, start + span


@contextmanager
def fewer_collections() -> Iterator[None]:
    """A simulation allocates millions of short-lived acyclic objects (rows, events, contexts);
    Python's collector, started every 700 of them, walked the loaded audience and history
    again and again while freeing almost nothing. Freeze what is loaded, collect young objects
    every 50,000 allocations, and put things back afterwards."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
