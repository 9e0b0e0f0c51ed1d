"""What providers tell us back, applied to the store: delivery status, consent, SMS replies.

Every feedback event is recorded once by its provider id (`feedback_events`), so a webhook the
provider retries changes nothing the second time. Status only moves forward (sent ->
delivered -> opened -> clicked; a bounce or drop is final). An unsubscribe, a spam report or a
hard bounce revokes email consent at once; SMS STOP (and its synonyms) revokes SMS consent in
every playbook at once and START restores it; any other SMS reply becomes an `sms_reply`
event that playbooks can wait for.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from cadenza.connectors.events import DeliveryEvent, InboundSms
from cadenza.engine import schema as t
from cadenza.engine.runtime import Runtime
from cadenza.engine.state import Event
from cadenza.engine.store import Store, dialect_insert

STATUS = {"delivered": "delivered", "open": "opened", "click": "clicked",
          "bounce": "bounced", "dropped": "dropped", "spamreport": "spam",
          "unsubscribe": "unsubscribed", "group_unsubscribe": "unsubscribed",
          "undelivered": "undelivered", "failed": "undelivered"}
RANK = {"pending": 0, "failed": 0, "unknown": 1, "sent": 1, "delivered": 2, "opened": 3,
        "clicked": 4, "unsubscribed": 5, "spam": 5, "bounced": 6, "dropped": 6,
        "undelivered": 6, "dead": 6}
# A score or a choice ("9", "-1"); longer digit runs (an order number, a pasted code) are text
# and never reach int(), whose 4,300-digit limit would make a reply an error.
_NUMBER = re.compile(r"(?<!\d)-?\d{1,15}(?!\d)")


@dataclass
class Applied:
    applied: int = 0
    duplicates: int = 0
    unmatched: int = 0


def _first_time(conn: Connection, event_id: str, provider: str, kind: str,
                message_id: str | None, now: int) -> bool:
    stmt = dialect_insert(conn)(t.feedback_events).values(
        event_id=event_id, provider=provider, kind=kind, message_id=message_id,
        received_at=now).on_conflict_do_nothing().returning(t.feedback_events.c.event_id)
    return conn.execute(stmt).first() is not None


def _message(conn: Connection, ev: DeliveryEvent) -> tuple[int, str, str] | None:
    msg = t.messages
    for column, value in ((msg.c.idempotency_key, ev.message_id),
                          (msg.c.provider_id, ev.provider_message_id)):
        if value:
            row = conn.execute(select(msg.c.id, msg.c.status, msg.c.customer_id)
                               .where(column == value)).first()
            if row is not None:
                return row.id, row.status, row.customer_id
    return None


def apply_delivery(runtime: Runtime, events: Sequence[DeliveryEvent], now: int) -> Applied:
    out = Applied()
    with runtime.store.engine.begin() as conn:
        for ev in events:
            if not _first_time(conn, ev.event_id, ev.provider, ev.kind, ev.message_id, now):
                out.duplicates += 1
                continue
            found = _message(conn, ev)
            if found is None:
                out.unmatched += 1
                continue
            mid, status, customer = found
            new = STATUS.get(ev.kind)
            if new is not None and RANK[new] > RANK.get(status, 0):
                conn.execute(update(t.messages).where(t.messages.c.id == mid)
                             .values(status=new))
            if ev.revokes_consent or ev.restores_consent:
                Store.set_consent(conn, customer, ev.channel, revoked=ev.revokes_consent)
            out.applied += 1
    return out


def apply_inbound(runtime: Runtime, sms: InboundSms, now: int) -> list[str]:
    """Apply one inbound SMS; returns the ids of the customers it came from."""
    with runtime.store.engine.begin() as conn:
        if not _first_time(conn, sms.event_id, "twilio", sms.kind, None, now):
            return []
        customers = sorted(conn.execute(select(t.customers.c.id).where(
            t.customers.c.phone == sms.from_number)).scalars())
        if sms.kind in ("opt_out", "opt_in"):
            for cid in customers:
                Store.set_consent(conn, cid, "sms", revoked=sms.kind == "opt_out")
    if sms.kind == "sms_reply" and customers:
        props: dict[str, object] = {"body": sms.body}
        number = reply_number(sms.body)
        if number is not None:
            props["number"] = number
        runtime.process([Event(customer_id=cid, name="sms_reply", ts=now, properties=props,
                               message_id=f"{sms.event_id}:{cid}") for cid in customers], now)
    return customers


def reply_number(body: str) -> int | None:
    """The first number in an SMS reply ("9", "I'd say 7"), for `event.number` in playbooks."""
    found = _NUMBER.search(body)
    return None if found is None else int(found.group())
