"""A customer whose data makes the engine fail is set aside, so the others are served.

The runtime handles customers a batch at a time, in one transaction. A step that raises for
one customer (an engine bug a customer's data brings out) rolls the whole batch back, and the
next tick would claim the same customers and fail again: one customer would stop everyone.
When a batch fails that way, its customers are run again one by one; the one that still
fails is set aside: its pending events are marked handled, its due journeys end with the
reason `engine error: <kind>`, and an error is logged with the customer and the exception, so
an operator can look (`cadenza explain`) and replay what matters. Store failures are not
handled here: they are the store's (retried, or fatal), not the customer's.
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy import update

from cadenza.engine import schema as t
from cadenza.engine.store import Store

log = structlog.get_logger("cadenza.engine")
REASON_WIDTH = 64  # enrollments.end_reason


def set_aside(store: Store, customer: str, until: int, exc: BaseException) -> None:
    reason = f"engine error: {type(exc).__name__}"[:REASON_WIDTH]
    log.error("engine.customer_set_aside", customer=customer, error=reason,
              detail=str(exc)[:500])
    e = t.enrollments
    with store.engine.begin() as conn:
        pending = store.pending_events(conn, [customer], until)
        store.mark_processed(conn, [i for evs in pending.values() for i, _ in evs])
        conn.execute(update(e).where(e.c.customer_id == customer,
                                     e.c.state.in_(("active", "waiting")), e.c.due_at <= until)
                     .values(state="exited", node=None, due_at=None, ended_at=until,
                             end_reason=reason))


def snapshot(stats: Any) -> dict[str, Any]:
    """What a batch may change in `stats`: counts, and the length of each list (only
    appended to; a copy per batch made a long run's bookkeeping quadratic)."""
    return {k: len(v) if isinstance(v, list) else v for k, v in vars(stats).items()}


def restore(stats: Any, before: dict[str, Any]) -> None:
    """Undo what a failed batch counted (its transaction was rolled back)."""
    for key, value in before.items():
        current = getattr(stats, key)
        if isinstance(current, list):
            del current[value:]
        else:
            setattr(stats, key, value)
