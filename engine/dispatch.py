"""The outbox: pending messages -> connectors, each outcome recorded.

A message row is committed with the step that created it (store.write); dispatch then calls the
connector with the row's idempotency key (enrollment:node:attempt) and records the result:
sent, failed (retried later with backoff), dead (permanent, or out of attempts), or unknown
(the request may have been sent: never re-sent automatically). A permanent failure that means
the recipient opted out revokes that channel's consent for the customer at once.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from cadenza.connectors import Connector, Message
from cadenza.connectors.ratelimit import TokenBucket
from cadenza.connectors.retry import DeadLetter, Decision, Done, Hold, RetryIn, RetryPolicy
from cadenza.engine.store import Store

log = structlog.get_logger("cadenza.dispatch")
# Human tasks go out through a webhook connector (a CRM or ticket queue).
CONNECTOR_CHANNEL = {"email": "email", "sms": "sms", "webhook": "webhook", "task": "webhook"}


@dataclass
class Dispatcher:
    store: Store
    connectors: Mapping[str, Connector]  # by connector name; channels name their defaults
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sender: str | None = None
    # Per connector (or channel) name; a message over the limit stays pending for the next
    # round. The simulator passes none: virtual time has no rate to keep.
    limits: Mapping[str, TokenBucket] = field(default_factory=dict)
    # On virtual time a message goes out at its own due moment, not at the end of the jump.
    virtual_time: bool = False
    owner: str = field(default_factory=lambda: f"{os.getpid()}-{uuid.uuid4().hex[:8]}")
    lease_s: int = 300

    def connector_for(self, row: Any) -> Connector:
        return self.connectors[row.connector or row.channel]

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
        rows = self.store.claim_messages(now, limit, self.owner, self.lease_s)
        results: list[dict[str, Any]] = []
        revoked: list[tuple[str, str]] = []
        full: set[str] = set()
        for row in rows:
            name = row.connector or row.channel
            bucket = self.limits.get(name)
            if name in full or (bucket is not None and not bucket.try_acquire()):
                full.add(name)  # over the rate: hand it back for the next round
                results.append(self._release(row))
                continue
            decision = self.policy.decide(self.connector_for(row).send(self.message(row)),
                                          row.attempts + 1)
            at = min(now, row.next_attempt_at) if self.virtual_time else now
            results.append(self._result(row, decision, at))
            log.info("message.dispatched", outcome=results[-1]["status"],
                     playbook=row.playbook, enrollment=row.enrollment_id, step=row.node,
                     channel=row.channel, message_id=row.idempotency_key,
                     attempt=row.attempts + 1)
            if isinstance(decision, DeadLetter) and decision.opted_out:
                revoked.append((row.customer_id, row.channel))
        self.store.record_results(results, self.owner)
        self._revoke(revoked)
        return sum(1 for r in results if r["status"] != "pending")

    @staticmethod
    def _release(row: Any) -> dict[str, Any]:
        return {"mid": row.id, "status": "pending", "attempts": row.attempts,
                "provider_id": row.provider_id, "next_attempt_at": row.next_attempt_at,
                "last_error": row.last_error, "sent_at": None}

    @staticmethod
    def _result(row: Any, d: Decision, now: int) -> dict[str, Any]:
        base = {"mid": row.id, "attempts": row.attempts + 1, "provider_id": None,
                "next_attempt_at": None, "last_error": None, "sent_at": None}
        match d:
            case Done():
                return {**base, "status": "sent", "provider_id": d.provider_id, "sent_at": now}
            case RetryIn():
                return {**base, "status": "failed", "next_attempt_at": now + int(d.delay_s)}
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
