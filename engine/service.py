"""The running service's core: one object the HTTP layer and the ticker share.

`ingest` stores events durably (pending) and wakes the ticker; `tick` runs the engine up to now
and dispatches the outbox. The HTTP layer never runs playbook steps itself, so an accepted
event costs one insert, and a crash after the 2xx loses nothing: the event is pending in the
store until a worker handles it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import Connection, event, select, text

from cadenza.connectors import Connector
from cadenza.connectors.events import DeliveryEvent, InboundSms
from cadenza.engine import schema as t
from cadenza.engine.dataload import BadValueError, coerce
from cadenza.engine.db import fatal_store_error, schema_version, write_gate
from cadenza.engine.dispatch import Dispatcher
from cadenza.engine.feedback import Applied, apply_delivery, apply_inbound
from cadenza.engine.metrics import metrics_of
from cadenza.engine.runtime import Runtime, Stats
from cadenza.engine.schema import SCHEMA_VERSION
from cadenza.engine.sendwindow import SendWindow
from cadenza.engine.state import Event
from cadenza.engine.store import Store, bulk_for
from cadenza.engine.timing import known_zone
from cadenza.grammar.diagnostics import did_you_mean
from cadenza.playbooks import model as m
from cadenza.playbooks.contacts import clean_contact

Clock = Callable[[], float]
CHANNEL = "cadenza_work"  # PostgreSQL LISTEN/NOTIFY channel: new events are waiting
COLUMNS = ("email", "phone", "timezone")
# A tick's transaction on SQLite holds the only write lock; ingest requests queue behind it
# (engine/writegate.py), so its length bounds their latency. PostgreSQL locks rows, not the
# database, and keeps whole batches.
SQLITE_BATCH_SECONDS = 0.01


@dataclass
class Service:
    project: m.Project
    store: Store
    connectors: Mapping[str, Connector]
    clock: Clock = time.time
    batch_size: int = 500  # most customers per transaction (fewer on SQLite: see Runtime)
    lease_s: int = 60  # how long an outbox claim holds before another worker takes it back
    wake: threading.Event = field(default_factory=threading.Event)
    last_tick: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # A store fault no retry fixes (SQLite on a full disk, a read-only file): the sentence,
    # and what to do about it (`serve` stops the process, so a supervisor and an operator see).
    fatal: str | None = None
    on_fatal: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        event.listen(self.store.engine, "handle_error",
                     lambda context: self.check_fatal(context.original_exception))
        gate = write_gate(self.store.engine)
        self.runtime = Runtime(project=self.project, store=self.store,
                               batch_size=self.batch_size,
                               batch_seconds=None if gate is None else SQLITE_BATCH_SECONDS,
                               contended=None if gate is None else lambda: gate.waiting() > 0)
        if not self.runtime.refresh():  # nothing applied yet: run the project as given
            self.runtime.deploy(self.now())
        self.dispatcher = Dispatcher(store=self.store, connectors=self.connectors,
                                     limits=self._limits(), lease_s=self.lease_s,
                                     clock=self.clock)

    def now(self) -> int:
        return int(self.clock())

    def _limits(self) -> dict[str, SendWindow]:
        return {limit.target: SendWindow(limit.count, float(limit.per_s))
                for limit in self.project.defaults.rate_limits}

    # ------------------------------------------------------------------ events in
    def ingest(self, events: list[Event]) -> int:
        """Store events (creating customers not seen before); returns how many were new."""
        if not events:
            return 0
        now = self.now()
        with self._writing() as conn:
            self._ensure_customers(conn, {e.customer_id for e in events}, now)
            fresh = self.store.insert_events_in(conn, events, now)
            if fresh and conn.dialect.name == "postgresql":
                conn.execute(text(f"NOTIFY {CHANNEL}"))  # delivered to every worker on commit
        metrics_of(self).count_ingested(len(fresh))
        if fresh:
            self.wake.set()
        return len(fresh)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A transaction for the API's writes; a failed COMMIT never reaches handle_error."""
        try:
            with self.store.engine.begin() as conn:
                yield conn
        except Exception as exc:
            self.check_fatal(exc)
            raise

    def _ensure_customers(self, conn: Any, ids: set[str], now: int) -> None:
        # Sorted: concurrent callers lock the rows in one order.
        rows = [{"id": cid, "attributes": {}, "email_revoked": False, "sms_revoked": False,
                 "updated_at": now} for cid in sorted(ids)]
        bulk_for(conn).insert_rows(conn, t.customers, rows, skip_existing="id")

    def identify(self, customer_id: str, traits: Mapping[str, Any]) -> list[str]:
        """Set a customer's attributes from traits; returns problems (unknown or bad traits)."""
        schema = self.project.schema_.customer
        problems: list[str] = []
        attrs: dict[str, Any] = {}
        columns: dict[str, Any] = {}
        for key, value in traits.items():
            if key == "timezone" and value is not None and not known_zone(str(value)):
                problems.append(f"the trait timezone '{value}' is not a known time zone; use "
                                "an IANA name such as 'Europe/London'. It was not stored.")
                continue
            if key in COLUMNS:
                stored, problem = (None, None) if value is None else clean_contact(key, value)
                if problem is not None:
                    problems.append(f"the trait {key}: {problem}. It was not stored.")
                    continue
                columns[key] = stored
                continue
            attr_type = schema.get(key)
            if attr_type is None or key == "id":
                problems.append(f"unknown trait '{key}'{did_you_mean(key, schema)} It was "
                                "not stored; declare it in the schema to keep it.")
                continue
            try:
                attrs[key] = coerce(value, attr_type, key)
            except BadValueError as exc:
                problems.append(f"{exc} It was not stored.")
        self._update_customer(customer_id, attrs, columns)
        self.wake.set()
        return problems

    def _update_customer(self, cid: str, attrs: dict[str, Any], columns: dict[str, Any]) -> None:
        c = t.customers
        with self._writing() as conn:
            self._ensure_customers(conn, {cid}, self.now())
            row = conn.execute(select(c.c.attributes).where(c.c.id == cid)
                               .with_for_update()).scalar_one()
            merged = {**dict(row or {}), **attrs}
            conn.execute(c.update().where(c.c.id == cid)
                         .values(attributes=merged, updated_at=self.now(), **columns))

    # ------------------------------------------------------------------ feedback in
    def delivery(self, events: tuple[DeliveryEvent, ...]) -> Applied:
        return apply_delivery(self.runtime, events, self.now())

    def inbound(self, sms: InboundSms) -> list[str]:
        with self.lock:
            return apply_inbound(self.runtime, sms, self.now())

    # ------------------------------------------------------------------ the engine
    def tick(self) -> tuple[Stats, int]:
        """Run everything due up to now, then send what the outbox holds."""
        with self.lock:
            now = self.now()
            if self.runtime.refresh():  # a `cadenza apply` landed: run it, no restart
                self.dispatcher.limits = self._limits()
            sent = 0

            def send_now() -> None:
                nonlocal sent
                while (n := self.dispatcher.dispatch(now)) > 0:
                    sent += n

            stats = self.runtime.advance(now, after_batch=send_now)
            send_now()
            self.last_tick = time.time()
            metrics = metrics_of(self)  # made on first use, for the store in use then
            metrics.count_tick()
            for lag in stats.lags:
                metrics.observe_due_lag(lag)
            return stats, sent

    def next_due(self) -> int | None:
        return self.store.next_due()

    # ------------------------------------------------------------------ health
    def check_fatal(self, exc: BaseException) -> None:
        """Database errors pass here; one that needs an operator stops the service."""
        reason = fatal_store_error(getattr(exc, "orig", None) or exc)
        if reason is None or self.fatal is not None:
            return
        self.fatal = reason
        structlog.get_logger("cadenza.store").error("store.fatal", reason=reason)
        if self.on_fatal is not None:
            self.on_fatal()

    def ready(self, stale_after: float) -> list[str]:
        """Problems that make this worker unready (empty when ready)."""
        problems: list[str] = [] if self.fatal is None else [self.fatal]
        try:
            with self.store.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            version = schema_version(self.store.engine)
            if version != SCHEMA_VERSION:
                problems.append(f"the store's schema is version {version}; this Cadenza needs "
                                f"{SCHEMA_VERSION}: run `cadenza migrate`.")
        except Exception as exc:  # any database failure means "not ready", with the reason
            problems.append(f"the database is unreachable: {type(exc).__name__}.")
        if self.last_tick and time.time() - self.last_tick > stale_after:
            problems.append(f"the ticker has not run for {time.time() - self.last_tick:.0f} s.")
        return problems
