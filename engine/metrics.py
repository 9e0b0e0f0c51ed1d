"""Prometheus metrics: what the store holds, read at scrape time, and what this process did.

Store figures (messages, suppressions, conversions, enrollments, events, dispatch attempts) are
read from the database by a custom collector each time `/metrics` is scraped, so every worker
reports the same totals and a restart loses nothing. A scrape costs one grouped query per
family. Process figures (due lag, ingested events, ticks) live in this process only; sum them
across workers.

Each `Metrics` owns its `CollectorRegistry`: there is no module-level state, and two services
in one process (as in tests) never share a series.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from sqlalchemy import Connection, func, select
from sqlalchemy.exc import SQLAlchemyError

from cadenza.engine import schema as t
from cadenza.engine.store import Store

__all__ = ["CONTENT_TYPE_LATEST", "DUE_LAG_BUCKETS", "Metrics", "StoreCollector", "metrics_of"]

# Seconds between a step's due time and the moment a worker ran it.
DUE_LAG_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

# The outcome of a message's latest attempt, by its status now. Statuses after "sent"
# (delivered, opened, bounced ... from provider feedback) all mean the attempt was accepted.
LAST_ATTEMPT = {"failed": "retry", "dead": "dead", "unknown": "unknown"}
IN_FLIGHT = ("pending", "claimed", "sending")
OUTCOMES = ("sent", "retry", "dead", "unknown")


class _HasStore(Protocol):
    store: Store


class StoreCollector(Collector):
    """Reads the store's totals at scrape time; `cadenza_store_up` says whether it could."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        try:
            with self.store.engine.connect() as conn:
                families = list(self._families(conn))
        except SQLAlchemyError:
            families = []
        up = GaugeMetricFamily("cadenza_store_up",
                               "1 when the store answered this scrape, 0 when it did not.")
        up.add_metric([], 1.0 if families else 0.0)
        yield up
        yield from families

    def _families(self, conn: Connection) -> Iterator[Metric]:
        yield self._messages(conn)
        yield self._suppressions(conn)
        yield self._conversions(conn)
        yield self._enrollments(conn)
        yield self._events(conn)
        yield self._attempts(conn)

    @staticmethod
    def _grouped(conn: Connection, columns: list[Any]) -> Iterable[Any]:
        return conn.execute(select(*columns, func.count()).group_by(*columns)
                            .order_by(*columns))

    def _messages(self, conn: Connection) -> Metric:
        msg = t.messages
        family = CounterMetricFamily(
            "cadenza_messages", "Messages in the outbox by channel, playbook, step and "
            "current status.", labels=["channel", "playbook", "step", "status"])
        for channel, playbook, node, status, n in self._grouped(
                conn, [msg.c.channel, msg.c.playbook, msg.c.node, msg.c.status]):
            family.add_metric([channel, playbook, node, status], n)
        return family

    def _suppressions(self, conn: Connection) -> Metric:
        sup = t.suppressions
        family = CounterMetricFamily(
            "cadenza_suppressions", "Sends held back by a policy (deferred) or skipped.",
            labels=["channel", "playbook", "step", "reason", "action"])
        for channel, playbook, node, reason, action, n in self._grouped(
                conn, [sup.c.channel, sup.c.playbook, sup.c.node, sup.c.reason, sup.c.action]):
            family.add_metric([channel or "", playbook, node, reason, action], n)
        return family

    def _conversions(self, conn: Connection) -> Metric:
        conv = t.conversions
        family = CounterMetricFamily("cadenza_conversions", "Goals reached by enrolled customers.",
                                     labels=["playbook", "goal"])
        for playbook, goal, n in self._grouped(conn, [conv.c.playbook, conv.c.goal]):
            family.add_metric([playbook, goal], n)
        return family

    def _enrollments(self, conn: Connection) -> Metric:
        e = t.enrollments
        family = GaugeMetricFamily("cadenza_enrollments", "Enrollments by playbook and state.",
                                   labels=["playbook", "state"])
        for playbook, state, n in self._grouped(conn, [e.c.playbook, e.c.state]):
            family.add_metric([playbook, state], n)
        return family

    def _events(self, conn: Connection) -> Metric:
        family = CounterMetricFamily("cadenza_events", "Stored events, handled or pending.",
                                     labels=["processed"])
        counts: dict[bool, int] = {bool(processed): n for processed, n in conn.execute(
            select(t.events.c.processed, func.count()).group_by(t.events.c.processed))}
        for processed in (True, False):
            family.add_metric([str(processed).lower()], counts.get(processed, 0))
        return family

    def _attempts(self, conn: Connection) -> Metric:
        msg = t.messages
        outcomes: Counter[tuple[str, str]] = Counter()
        rows = conn.execute(select(msg.c.channel, msg.c.status, func.sum(msg.c.attempts),
                                   func.count()).where(msg.c.attempts > 0)
                            .group_by(msg.c.channel, msg.c.status))
        for channel, status, total, messages in rows:
            attempts = int(total)
            if status in IN_FLIGHT:  # every attempt so far failed and was retried
                outcomes[(channel, "retry")] += attempts
                continue
            last = LAST_ATTEMPT.get(status, "sent")
            outcomes[(channel, "retry")] += attempts - messages
            outcomes[(channel, last)] += messages
        for channel in {c for c, _ in outcomes}:  # every outcome of a channel, zeros included
            for outcome in OUTCOMES:
                outcomes[(channel, outcome)] += 0
        family = CounterMetricFamily(
            "cadenza_dispatch_attempts", "Connector calls by channel and outcome "
            "(sent, retry, dead, unknown).", labels=["channel", "outcome"])
        for (channel, outcome), n in sorted(outcomes.items()):
            family.add_metric([channel, outcome], n)
        return family


class Metrics:
    """One service's metrics: the store collector plus this process's own counters."""

    def __init__(self, store: Store) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StoreCollector(store))
        self.due_lag = Histogram(
            "cadenza_due_lag_seconds", "Delay between a step's due time and its run.",
            buckets=DUE_LAG_BUCKETS, registry=self.registry)
        self.ingested = PromCounter("cadenza_ingest_events", "Events accepted by this process.",
                                    registry=self.registry)
        self.ticks = PromCounter("cadenza_ticks", "Engine ticks run by this process.",
                                 registry=self.registry)

    def observe_due_lag(self, seconds: float) -> None:
        """Record how late a due step ran (now - due_at); early runs count as zero."""
        self.due_lag.observe(max(0.0, seconds))

    def count_ingested(self, n: int) -> None:
        if n > 0:
            self.ingested.inc(n)

    def count_tick(self) -> None:
        self.ticks.inc()

    def exposition(self) -> bytes:
        """The Prometheus text format (serve with `CONTENT_TYPE_LATEST`)."""
        return generate_latest(self.registry)


def metrics_of(service: _HasStore) -> Metrics:
    """The service's `Metrics`, made on first use and kept on the service itself."""
    found = getattr(service, "metrics", None)
    if isinstance(found, Metrics):
        return found
    made = Metrics(service.store)
    setattr(service, "metrics", made)  # noqa: B010 - until Service declares the field
    return made
