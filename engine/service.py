"""The running service's core: one object the HTTP layer and the ticker share.

`ingest` stores events durably (pending) and wakes the ticker; `tick` runs the engine up to now
and dispatches the outbox. The HTTP layer never runs playbook steps itself, so an accepted
event costs one insert, and a crash after the 2xx loses nothing: the event is pending in the
store until a worker handles it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text

from cadenza.connectors import Connector
from cadenza.connectors.events import DeliveryEvent, InboundSms
from cadenza.connectors.ratelimit import TokenBucket
from cadenza.engine import schema as t
from cadenza.engine.dataload import BadValueError, coerce
from cadenza.engine.db import schema_version
from cadenza.engine.dispatch import Dispatcher
from cadenza.engine.feedback import Applied, apply_delivery, apply_inbound
from cadenza.engine.metrics import metrics_of
from cadenza.engine.runtime import Runtime, Stats
from cadenza.engine.schema import SCHEMA_VERSION
from cadenza.engine.state import Event
from cadenza.engine.store import Store, dialect_insert
from cadenza.grammar.diagnostics import did_you_mean
from cadenza.playbooks import model as m

Clock = Callable[[], float]
CHANNEL = "cadenza_work"  # PostgreSQL LISTEN/NOTIFY channel: new events are waiting
COLUMNS = ("email", "phone", "timezone")


@dataclass
class Service:
    project: m.Project
    store: Store
    connectors: Mapping[str, Connector]
    clock: Clock = time.time
    batch_size: int = 500  # customers per transaction: short ones keep ingest latency low
    wake: threading.Event = field(default_factory=threading.Event)
    last_tick: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.runtime = Runtime(project=self.project, store=self.store,
                               batch_size=self.batch_size)
        if not self.runtime.refresh():  # nothing applied yet: run the project as given
            self.runtime.deploy(self.now())
        self.dispatcher = Dispatcher(store=self.store, connectors=self.connectors,
                                     limits=self._limits())

    def now(self) -> int:
        return int(self.clock())

    def _limits(self) -> dict[str, TokenBucket]:
        out: dict[str, TokenBucket] = {}
        for limit in self.project.defaults.rate_limits:
            rate = limit.count / limit.per_s
            out[limit.target] = TokenBucket(rate=rate, capacity=max(1.0, float(limit.count)))
        return out

    # ------------------------------------------------------------------ events in
    def ingest(self, events: list[Event]) -> int:
        """Store events (creating customers not seen before); returns how many were new."""
        if not events:
            return 0
        now = self.now()
        with self.store.engine.begin() as conn:
            self._ensure_customers(conn, {e.customer_id for e in events}, now)
            fresh = self.store.insert_events_in(conn, events, now)
            if fresh and conn.dialect.name == "postgresql":
                conn.execute(text(f"NOTIFY {CHANNEL}"))  # delivered to every worker on commit
        metrics_of(self).count_ingested(len(fresh))
        if fresh:
            self.wake.set()
        return len(fresh)

    def _ensure_customers(self, conn: Any, ids: set[str], now: int) -> None:
        rows = [{"id": cid, "attributes": {}, "email_revoked": False, "sms_revoked": False,
                 "updated_at": now} for cid in sorted(ids)]
        conn.execute(dialect_insert(conn)(t.customers).on_conflict_do_nothing(), rows)

    def identify(self, customer_id: str, traits: Mapping[str, Any]) -> list[str]:
        """Set a customer's attributes from traits; returns problems (unknown or bad traits)."""
        schema = self.project.schema_.customer
        problems: list[str] = []
        attrs: dict[str, Any] = {}
        columns: dict[str, Any] = {}
        for key, value in traits.items():
            if key in COLUMNS:
                columns[key] = None if value is None else str(value)
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
        with self.store.engine.begin() as conn:
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
    def ready(self, stale_after: float) -> list[str]:
        """Problems that make this worker unready (empty when ready)."""
        problems: list[str] = []
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
