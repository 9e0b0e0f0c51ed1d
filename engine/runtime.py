"""The engine: one primitive, `process(events, until)`, that serve, simulate and tests all run.

For every customer touched — by a new event, a due step, a schedule firing or a segment change —
the runtime replays that customer's timeline in time order: due steps before an event run
first, then the event (exits, resolved waits, goals, new entries), and so on up to `until`.
Customers never affect each other, so processing them per customer, in batches, is exact.
`advance(now)` is `process([], now)`; `ingest(events, now)` handles events at once.

The runtime reads no clock: `until` is given by the caller (APScheduler's ticker in `serve`,
the virtual clock in `simulate` and `cadenza test`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from cadenza.engine import faults
from cadenza.engine.entries import SCHEDULE_EVENT, SEGMENT_EVENT, Entries
from cadenza.engine.evaluate import Env, EventRecord, evaluate, reference_aggregate
from cadenza.engine.machine import Machine, Version
from cadenza.engine.quarantine import restore, set_aside, snapshot
from cadenza.engine.schedules import due_fires, segment_changes, segment_members_at_start
from cadenza.engine.state import Batch, Customer, Event
from cadenza.engine.store import Store
from cadenza.playbooks import model as m

MAX_STEPS_PER_CUSTOMER = 10_000  # per call; a guard against a runaway loop
MIN_BATCH = 10  # customers: below this a transaction's fixed queries dominate


@dataclass
class Stats:
    customers: int = 0
    events: int = 0
    steps: int = 0
    orphans: int = 0  # events for customers the store does not know
    lags: list[int] = field(default_factory=list)  # seconds late, per due step claimed


@dataclass
class Runtime:
    project: m.Project
    store: Store
    batch_size: int = 2000
    active: dict[str, Version] = field(default_factory=dict)
    versions: dict[int, Version] = field(default_factory=dict)
    processed_until: int | None = None
    deployment: int | None = None  # the `cadenza apply` this runtime runs, if any
    # When set, batches shrink or grow (up to `batch_size`) so that one takes about this long
    # while `contended()` says others wait for the store (on SQLite a batch holds the only
    # write lock, and event ingest waits behind it); uncontended, they grow back.
    batch_seconds: float | None = None
    contended: Callable[[], bool] | None = None

    def __post_init__(self) -> None:
        self._aggregated = aggregated_events(self.project)
        self._max_batch = self.batch_size

    def refresh(self) -> bool:
        """Run the latest `cadenza apply` if it is not what runs now; True when it changed."""
        deployment = self.store.latest_deployment()
        if deployment is None or deployment.id == self.deployment:
            return False
        self.project = m.Project.model_validate(deployment.project)
        ids = {int(v) for v in deployment.versions.values()}
        self.versions.update(self.store.versions(ids - set(self.versions)))
        self.active = {name: self.versions[int(vid)]
                       for name, vid in deployment.versions.items()}
        self._aggregated = aggregated_events(self.project)
        self.deployment = deployment.id
        return True

    def deploy(self, now: int) -> None:
        self.active = self.store.deploy(self.project, now)
        self.versions.update({v.id: v for v in self.active.values()})
        if self.processed_until is None:
            self.processed_until = now

    def _lookback(self) -> int:
        spans = [c.per_s for pb in self.project.playbooks.values() for c in pb.policies.caps]
        spans += [g.within_s for pb in self.project.playbooks.values() for g in pb.goals]
        return max(spans, default=0)

    # ------------------------------------------------------------------ the primitive
    def process(self, events: Sequence[Event], until: int,
                after_batch: Callable[[], object] | None = None) -> Stats:
        """Store `events`, then handle everything pending or due up to `until`.

        `after_batch` runs after each committed batch (serve dispatches there, so the first
        sends of a long tick do not wait for its last batch)."""
        stats = Stats()
        start = self.processed_until if self.processed_until is not None else until
        fresh = self.store.insert_events(events, received_at=until)
        stats.events = len(fresh)
        self._synthetic(start, until, {e.customer_id for e in fresh})
        while True:
            # Four batches' worth of candidates: concurrent workers lock successive shares.
            ids = self.store.work(until, self.batch_size * 4)
            started = time.perf_counter()
            if not ids or self._batch_or_isolate(ids, until, stats) == 0:
                break  # nothing left, or what is left is another worker's right now
            self._resize(time.perf_counter() - started)
            faults.hit("after_commit")
            if after_batch is not None:
                after_batch()
        self.processed_until = max(until, self.processed_until or until)
        return stats

    def _resize(self, elapsed: float) -> None:
        if self.batch_seconds is None:
            return
        # At most halve or double per batch: one slow batch (a checkpoint) must not collapse it.
        factor = min(2.0, max(0.5, self.batch_seconds / max(elapsed, 1e-4)))
        if self.contended is not None and not self.contended():
            factor = 2.0  # nobody waits: whole batches are cheaper per customer
        self.batch_size = max(MIN_BATCH, min(self._max_batch, int(self.batch_size * factor)))

    def advance(self, now: int, after_batch: Callable[[], object] | None = None) -> Stats:
        return self.process([], now, after_batch)

    def _synthetic(self, start: int, until: int, touched: set[str]) -> None:
        """Schedule fires and segment changes, stored as pending events with their claim."""
        with self.store.engine.begin() as conn:
            out = [Event(customer_id=cid, name=SCHEDULE_EVENT, ts=fire,
                         properties={"kind": "schedule", "playbook": name})
                   for name, fire, cid in due_fires(conn, self.project, self.active,
                                                    start, until)]
            changes = segment_changes(conn, self.project, self.active, until, touched)
            out += [Event(customer_id=cid, name=SEGMENT_EVENT, ts=until,
                          properties={"kind": kind, "segment": segment})
                    for segment, kind, cid in changes]
            entered = {(segment, cid) for segment, kind, cid in changes if kind == "enter"}
            out += [Event(customer_id=cid, name=SEGMENT_EVENT, ts=until,
                          properties={"kind": "member", "segment": segment, "playbook": name})
                    for name, segment, cid in segment_members_at_start(conn, self.active,
                                                                        until, entered)]
            if out:
                self.store.insert_events_in(conn, out, until)

    def _batch_or_isolate(self, ids: Sequence[str], until: int, stats: Stats) -> int:
        """`_batch`; if a customer's step raises, the others are served and that one is set
        aside (engine/quarantine.py). The store's own errors go up as they are."""
        whole = self._attempt(ids, until, stats)
        if not isinstance(whole, Exception):
            return whole
        done, failed = 0, list[tuple[str, Exception]]()
        for cid in ids:
            one = self._attempt([cid], until, stats)
            if isinstance(one, Exception):
                failed.append((cid, one))
            else:
                done += one
        if len(ids) > 1 and len(failed) == len(ids):
            raise whole  # every customer fails: the engine is broken, not their data
        for cid, error in failed:
            set_aside(self.store, cid, until, error)
        return done + len(failed)

    def _attempt(self, ids: Sequence[str], until: int, stats: Stats) -> int | Exception:
        """`_batch`, or what it raised (its counts undone); the store's errors go up."""
        before = snapshot(stats)
        try:
            return self._batch(ids, until, stats)
        except (SQLAlchemyError, MemoryError):
            raise
        except Exception as exc:
            restore(stats, before)
            return exc

    def _batch(self, ids: Sequence[str], until: int, stats: Stats) -> int:
        """One transaction: own the customers, replay their timelines, write every effect."""
        with self.store.engine.begin() as conn:
            # Events for customers the store does not know trigger nothing; mark them handled
            # (the API creates customers it has not seen, so these come only from bad imports).
            unknown = sorted(set(ids) - self.store.existing(conn, ids))
            if unknown:
                orphans = self.store.pending_events(conn, unknown, until)
                self.store.mark_processed(conn, [i for evs in orphans.values() for i, _ in evs])
                stats.orphans += sum(len(evs) for evs in orphans.values())
            gone = set(unknown)
            owned = self.store.lock(conn, [i for i in ids if i not in gone], self.batch_size)
            if not owned:
                return len(unknown)
            faults.hit("after_claim")
            pending = self.store.pending_events(conn, owned, until)
            since = min([until, self.store.earliest_due(conn, owned) or until,
                         *(ev.ts for evs in pending.values() for _, ev in evs)])
            batch, last_entry = self.store.load(conn, owned, since, self._lookback())
            self._load_versions(batch)
            stats.lags += [until - e.due_at for e in batch.all_enrollments()
                           if e.open and e.due_at is not None and e.due_at <= until]
            names, window = self._aggregated
            history = self.store.history(conn, owned, names, None if window is None
                                         else since - window, until) if names else {}
            judge = _Judge(self.project, history)
            machine = Machine(project=self.project, versions=self.versions, judge=judge)
            entries = Entries(active=self.active, versions=self.versions, judge=judge)
            for cid in owned:
                if cid in batch.customers:
                    stats.steps += self._customer(cid, pending.get(cid, []), batch,
                                                  last_entry, until, machine, entries, judge)
                    stats.customers += 1
            self.store.write(conn, batch)
            self.store.mark_processed(conn, [i for evs in pending.values() for i, _ in evs])
        return len(owned)

    def _load_versions(self, batch: Batch) -> None:
        missing = {e.version_id for e in batch.all_enrollments()} - set(self.versions)
        if missing:
            self.versions.update(self.store.versions(missing))

    @staticmethod
    def _customer(cid: str, events: list[tuple[int, Event]], batch: Batch,
                  last_entry: dict[tuple[str, str], int], until: int, machine: Machine,
                  entries: Entries, judge: _Judge) -> int:
        steps = 0
        for event_id, ev in sorted(events, key=lambda pair: (pair[1].ts, pair[0])):
            steps += _run_due(cid, batch, ev.ts, machine)
            judge.horizon = (ev.ts, event_id)
            try:
                entries.handle(ev, batch, last_entry)
                # What the event starts at its own instant (a new journey's first send and the
                # wait after it) runs before the next event of the same second is handled, as
                # if each event arrived alone: a sign-up and its setup stored in one second
                # must resolve the wait the sign-up began, as they do sent one by one.
                steps += _run_due(cid, batch, ev.ts + 1, machine)
            finally:
                judge.horizon = None
        return steps + _run_due(cid, batch, until + 1, machine)


def _run_due(cid: str, batch: Batch, before: int, machine: Machine) -> int:
    """Run the customer's steps due before `before`, earliest first, across playbooks."""
    steps = 0
    while steps < MAX_STEPS_PER_CUSTOMER:
        due = [e for e in batch.of(cid)
               if e.open and e.due_at is not None and e.due_at < before]
        if not due:
            break
        # Earliest first; at the same instant older journeys before new ones (whose ids are
        # still negative placeholders, -1, -2, ... in creation order).
        machine.step(min(due, key=lambda e: (e.due_at or 0, e.id <= 0, abs(e.id))), batch)
        steps += 1
    else:
        for e in batch.of(cid):
            if e.open:
                e.end("exited", e.due_at or before, "step limit reached")
    return steps


def aggregated_events(project: m.Project) -> tuple[frozenset[str], int | None]:
    """Event names that aggregates read, and how far back they look (None: all time)."""
    aggs = [*m.nodes_of(project.playbooks, m.Agg), *m.nodes_of(project.segments, m.Agg)]
    windows = [a.window_s for a in aggs]
    bounded = [w for w in windows if w is not None]
    window = None if len(bounded) < len(windows) else max(bounded, default=0)
    return frozenset(a.event for a in aggs), window


class _Judge:
    """Conditions judged in Python at the step's own moment.

    Aggregates are computed over the batch's preloaded events of that customer with the same
    rules as the SQL compilation (`engine/segments.py`; a property test holds the two to
    agreement), so a step at 10:00 never sees an order placed at 10:30 of the same batch.
    """

    def __init__(self, project: m.Project, history: dict[str, list[EventRecord]]) -> None:
        self.project = project
        self.history = history
        # (ts, id) of the event being handled: aggregates judged for it do not see the
        # customer's later events of the same second (a third and a fourth order stored in
        # one second would otherwise both count when the third's `where` is judged).
        self.horizon: tuple[int, int] | None = None
        self._plain_conds: dict[int, tuple[m.Cond, bool]] = {}

    def __call__(self, cond: m.Cond, customer: Customer, at: int,
                 event: dict[str, Any] | None, bound: dict[str, Any]) -> bool:
        if self._plain(cond):  # an attribute, the event's properties: no oracle to build
            return evaluate(cond, Env(customer=customer.row(), now=at, event=event,
                                      bound=bound))
        return evaluate(cond, self._env(customer, at, event, bound))

    def _plain(self, cond: m.Cond) -> bool:
        """True when `cond` names no segment and no aggregate (judged for every step: the
        answer is kept per condition, which lives as long as the project)."""
        known = self._plain_conds.get(id(cond))
        if known is None:
            plain = (next(m.nodes_of(cond, m.InSegment), None) is None
                     and next(m.nodes_of(cond, m.Agg), None) is None)
            known = self._plain_conds[id(cond)] = (cond, plain)
        return known[1]

    def _env(self, customer: Customer, at: int, event: dict[str, Any] | None,
             bound: dict[str, Any]) -> Env:
        segments = self.project.segments
        horizon = self.horizon
        row = customer.row()
        plain: Env | None = None

        def base() -> Env:
            # Built on first use: most conditions (an attribute, the event's own properties)
            # need no segment and no aggregate, and this is judged for every step.
            nonlocal plain
            if plain is None:
                plain = Env(customer=row, now=at, in_segment=in_segment, aggregate=aggregate)
            return plain

        def in_segment(name: str) -> bool | None:
            # Segments never see the step's event: evaluate them in an env without it.
            return evaluate(segments[name].cond, base())

        def aggregate(agg: m.Agg) -> Any:
            events = self.history.get(customer.id, [])
            if horizon is not None and horizon[0] == at:
                events = [e for e in events if e.ts < at or e.id <= horizon[1]]
            return reference_aggregate(agg, events, at, env=base())

        if event is None and not bound:
            return base()
        return Env(customer=row, event=event, bound=bound, now=at, in_segment=in_segment,
                   aggregate=aggregate)
