"""The outbox: pending messages -> connectors, each outcome recorded.

A message row is committed with the step that created it (store.write); dispatch then calls the
connector with the row's idempotency key (enrollment:node:attempt) and records the result:
sent, failed (retried later with backoff), dead (permanent, or out of attempts), or unknown
(the request may have been sent: never re-sent automatically). A permanent failure that means
the recipient opted out revokes that channel's consent for the customer at once.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import Connection

from cadenza.connectors import Connector, Message, SendResult
from cadenza.connectors.retry import DeadLetter, Decision, Done, Hold, RetryIn, RetryPolicy
from cadenza.engine import faults
from cadenza.engine.sendwindow import Limit
from cadenza.engine.store import Store

log = structlog.get_logger("cadenza.dispatch")
# Channels never sent twice: each message is marked `sending`, committed, just before its
# request, so after a crash only that one is in doubt (held as `unknown`) and the rest of the
# claim goes back to pending. Email may repeat in its in-doubt window instead (no extra write).
AT_MOST_ONCE = frozenset({"sms"})
# Human tasks go out through a webhook connector (a CRM or ticket queue).
CONNECTOR_CHANNEL = {"email": "email", "sms": "sms", "webhook": "webhook", "task": "webhook"}


def route(row: Any) -> str:
    """The connector a message goes through: its own, else its channel's default."""
    return str(row.connector or row.channel)


def in_flight_limit(connector: Connector) -> int:
    """How many requests a connector may have out at once (its `concurrency` setting; 1 for
    one without, such as the recorder, whose scripted answers must come in order)."""
    return max(1, int(getattr(connector, "max_in_flight", 1)))


# A request's rate limit and the slot it took there (None, None without a limit).
_Held = tuple[Limit | None, object | None]


def _settle(held: _Held) -> None:
    bucket, slot = held
    if bucket is not None:
        bucket.settle(slot)


def _answer(held: _Held, call: Callable[[], SendResult]) -> SendResult:
    """The connector's answer; its rate-limit slot settled however the call ends (a slot left
    out would shrink the limit for good)."""
    try:
        return call()
    finally:
        _settle(held)


@dataclass
class _Round:
    """One claim's sending: its answers so far and the requests still out."""

    now: int
    rows: Sequence[Any]
    claimed: float  # time.monotonic() of the claim: the lease runs from there
    versions: Mapping[int, int] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)
    revoked: list[tuple[str, str]] = field(default_factory=list)
    full: set[str] = field(default_factory=set)
    out: dict[Future[SendResult], tuple[Any, _Held]] = field(default_factory=dict)
    sent: set[int] = field(default_factory=set)  # ids of the rows whose request went out
    # A write failed (the store is down): send nothing more, keep outcomes for the next round.
    halted: bool = False
    # The logger as configured now, resolved once: the module's lazy proxy resolved it again
    # for every message (a fifth of a simulation's dispatching).
    logger: Any = field(default_factory=log.bind)

    def out_for(self, name: str) -> int:
        return sum(1 for row, _ in self.out.values() if route(row) == name)


@dataclass
class Dispatcher:
    store: Store
    connectors: Mapping[str, Connector]  # by connector name; channels name their defaults
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sender: str | None = None
    # Per connector (or channel) name; a message over the limit stays pending for the next
    # round. The simulator passes none: virtual time has no rate to keep.
    limits: Mapping[str, Limit] = field(default_factory=dict)
    # On virtual time a message goes out at its own due moment, not at the end of the jump.
    virtual_time: bool = False
    # Each outcome committed before the next send (and each SMS marked `sending` before its
    # request), so a crash repeats at most the message in flight. A simulation or a playbook
    # test has no crash to survive and no provider to call twice: it writes the outcomes of a
    # round together (a commit per message was half of a simulation's time).
    record_each: bool = True
    owner: str = field(default_factory=lambda: f"{os.getpid()}-{uuid.uuid4().hex[:8]}")
    lease_s: int = 300
    # The wall clock, on real time: retries are timed from the answer, not the tick's `now`.
    clock: Callable[[], float] | None = None
    # When a rate-limited connector frees up (epoch seconds), so the ticker comes back then.
    resume_at: float | None = None
    # The connection of the round in progress, for its per-send writes.
    _conn: Connection | None = field(default=None, init=False, repr=False)
    # Outcomes a database outage kept from being written: written first next time, so a sent
    # message is not sent again when its lease runs out.
    unrecorded: list[dict[str, Any]] = field(default_factory=list)
    _executor: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)

    def connector_for(self, row: Any) -> Connector:
        return self.connectors[route(row)]

    def message(self, row: Any) -> Message:
        channel = CONNECTOR_CHANNEL[row.channel]
        html = row.body if row.channel == "email" else None
        text = None if row.channel == "email" else row.body
        return Message(message_id=row.idempotency_key, channel=channel,  # type: ignore[arg-type]
                       to=row.to_address or row.customer_id, sender=self.sender,
                       subject=row.subject, html=html, text=text,
                       metadata={"playbook": row.playbook, "step": row.node,
                                 "enrollment": str(row.enrollment_id)})

    def dispatch(self, now: int, limit: int = 5000) -> int:
        """Send what is due; returns how many messages were attempted."""
        with self.store.sending() as conn:
            self._conn = conn
            try:
                return self._dispatch(now, limit)
            finally:
                self._conn = None

    def _dispatch(self, now: int, limit: int) -> int:
        self._record([])  # what an outage kept back, before claiming anything new
        if self.clock is not None:  # a long tick's `now` is old: leases would start short
            now = max(now, int(self.clock()))
        rows = self.store.claim_messages(now, limit, self.owner, self.lease_s)
        if rows:
            faults.hit("after_outbox_claim")
        run = _Round(now=now, rows=rows, claimed=time.monotonic())
        run.versions = self.store.versions_of({r.enrollment_id for r in rows})
        try:
            self._send_all(run)
        finally:
            self._land(run)  # what is still out: its answers, before anything else happens
        self._hold_until(run.full)
        if self.record_each:
            self._record([r for r in run.results if r["status"] == "pending"])  # handed back
        else:
            self._record(run.results)
        self._revoke(run.revoked)
        return sum(1 for r in run.results if r["status"] != "pending")

    def _send_all(self, run: _Round) -> None:
        for i, row in enumerate(run.rows):
            if time.monotonic() - run.claimed > self.lease_s / 2 or run.halted:
                # Slow sends (timeouts) or slow writes: hand the rest back while the lease
                # still holds, or another worker would take them over and send them again.
                # With the store down, send nothing more: the rest goes back when it returns.
                self._hand_back(run, run.rows[i:])
                return
            if route(row) in run.full:  # over the rate: next round
                run.results.append(self._release(row))
                continue
            try:
                self._start(run, row)
            except Exception:
                if run.halted:  # the unsent rest goes back when the store does
                    self._hand_back(run, [r for r in run.rows[i:] if r.id not in run.sent])
                raise

    def _start(self, run: _Round, row: Any) -> None:
        """Send `row` now, or on the pool when its connector takes several requests at once
        (each waits its turn: at most `max_in_flight` out per connector). The rate limit's
        slot is taken when the request goes out, not before its turn, so the provider never
        sees more than the limit in any window."""
        connector = self.connector_for(row)
        name = route(row)
        width = in_flight_limit(connector)
        inline = width == 1 and not run.out  # no thread hop for a recorder or a one-at-a-time
        while not inline and run.out_for(name) >= width:
            self._collect(run, FIRST_COMPLETED)
        bucket = self.limits.get(name)
        slot = bucket.take() if bucket is not None else None
        if bucket is not None and slot is None:
            run.full.add(name)
            run.results.append(self._release(row))
            return
        held = (bucket, slot)
        if self.record_each and row.channel in AT_MOST_ONCE and not self._mark(run, row, held):
            return  # the lease ran out and another worker holds it now: it sends it
        run.sent.add(row.id)
        if inline:
            self._finish(run, row, held, _answer(held, lambda: connector.send(self.message(row))))
            return
        future = self._pool().submit(connector.send, self.message(row))
        run.out[future] = (row, held)

    def _mark(self, run: _Round, row: Any, held: _Held) -> bool:
        """The SMS marked `sending`, committed, before its request. A failed write halts the
        round like a failed outcome: the rest of the claim goes back when the store does."""
        try:
            marked = self.store.mark_sending(self._held(), row.id, self.owner)
        except Exception:
            run.halted = True
            _settle(held)
            raise
        if not marked:
            _settle(held)
        return marked

    def _collect(self, run: _Round, when: str) -> None:
        done, _ = wait(list(run.out), return_when=when)
        for future in done:
            row, held = run.out.pop(future)
            self._finish(run, row, held, _answer(held, future.result))

    def _land(self, run: _Round) -> None:
        """Every request still out answered and its outcome kept (written, or held back for
        the next round once a write failed): an accepted message must not be forgotten."""
        error: Exception | None = None
        while run.out:
            try:
                self._collect(run, ALL_COMPLETED)
            except Exception as exc:  # the others still answer; the first error is raised
                run.halted = True
                error = error or exc
        if error is not None:
            raise error

    def _finish(self, run: _Round, row: Any, held: _Held, answer: SendResult) -> None:
        decision = self.policy.decide(answer, row.attempts + 1)
        if isinstance(decision, Done):
            faults.hit("after_provider_accept", row.channel)
        at = min(run.now, row.next_attempt_at) if self.virtual_time else run.now
        result = self._result(row, decision, at, self._retry_at(decision, at))
        run.results.append(result)
        run.logger.info("message.dispatched", outcome=result["status"],
                        playbook=row.playbook, version=run.versions.get(row.enrollment_id),
                        enrollment=row.enrollment_id, step=row.node,
                        channel=row.channel, message_id=row.idempotency_key,
                        attempt=row.attempts + 1)
        if isinstance(decision, DeadLetter) and decision.opted_out:
            run.revoked.append((row.customer_id, row.channel))
        if self.record_each:
            self._record_sent(run, result)

    def _record_sent(self, run: _Round, result: dict[str, Any]) -> None:
        """This outcome, written before the next send: a crash then repeats only what is in
        flight, not every message of the claim a provider already accepted. With the store
        down, it is kept for the next round and nothing more is sent."""
        if run.halted:
            self.unrecorded.append(result)
            return
        try:
            self._record([result])
        except Exception:
            run.halted = True
            self.unrecorded += [r for r in run.results if r["status"] == "pending"]
            raise

    def _hand_back(self, run: _Round, rest: Sequence[Any]) -> None:
        released = [self._release(row) for row in rest]
        if run.halted:
            self.unrecorded += released
        else:
            run.results += released

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            width = sum(in_flight_limit(c) for c in self.connectors.values())
            self._executor = ThreadPoolExecutor(max_workers=min(64, max(2, width)),
                                                thread_name_prefix="cadenza-send")
        return self._executor

    def close(self) -> None:
        """Stop the send threads (idle between rounds; none is busy once dispatch returns),
        and write the outcomes a failed write held back, if the store takes them now: on a
        shutdown there is no next round to write them."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self.unrecorded:
            try:
                with self.store.sending() as conn:
                    self._conn = conn
                    self._record([])
            except Exception as exc:  # the store is still down: their leases decide
                log.error("dispatch.unrecorded_lost", count=len(self.unrecorded),
                          error=type(exc).__name__)
            finally:
                self._conn = None

    def _record(self, results: list[dict[str, Any]]) -> None:
        self.unrecorded.extend(results)
        if self.unrecorded:
            # Raises when the store is down: the outcomes are kept for the next round.
            self.store.record_results(self._held(), self.unrecorded, self.owner)
            self.unrecorded = []

    def _held(self) -> Connection:
        assert self._conn is not None, "per-send writes happen inside dispatch()"
        return self._conn

    def _hold_until(self, full: set[str]) -> None:
        waits = [self.limits[name].wait_time() for name in full if name in self.limits]
        self.resume_at = time.time() + min(waits) if waits else None

    def _retry_at(self, d: Decision, now: int) -> int | None:
        """When a retry may go: on real time counted from the answer and rounded up, so a
        Retry-After is never cut short by the tick's truncated (or stale) `now`."""
        if not isinstance(d, RetryIn):
            return None
        if self.clock is None:
            return now + int(d.delay_s)
        return math.ceil(self.clock() + d.delay_s)

    @staticmethod
    def _release(row: Any) -> dict[str, Any]:
        return {"mid": row.id, "status": "pending", "attempts": row.attempts,
                "provider_id": row.provider_id, "next_attempt_at": row.next_attempt_at,
                "last_error": row.last_error, "sent_at": None}

    @staticmethod
    def _result(row: Any, d: Decision, now: int, retry_at: int | None) -> dict[str, Any]:
        base = {"mid": row.id, "attempts": row.attempts + 1, "provider_id": None,
                "next_attempt_at": None, "last_error": None, "sent_at": None}
        match d:
            case Done():
                return {**base, "status": "sent", "provider_id": d.provider_id, "sent_at": now}
            case RetryIn():
                return {**base, "status": "failed", "next_attempt_at": retry_at}
            case DeadLetter():
                return {**base, "status": "dead", "last_error": d.reason}
            case Hold():
                return {**base, "status": "unknown", "last_error": d.reason}

    def _revoke(self, revoked: list[tuple[str, str]]) -> None:
        if not revoked:
            return
        with self.store.engine.begin() as conn:
            for customer_id, channel in revoked:
                Store.set_consent(conn, customer_id, channel, revoked=True)
