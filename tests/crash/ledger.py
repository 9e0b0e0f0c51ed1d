"""Counting a trial: what the store holds, what the providers accepted, measured against
what the service promised (docs/connectors.md, "Delivery guarantees, honestly")."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy import Engine, func, select

from cadenza.engine import schema as t
from tests.providers import FakeSendGrid, FakeTwilio

from .load import customer


@dataclass(frozen=True)
class Counts:
    accepted: int  # events answered 2xx
    not_stored: int  # ... of which the store has no row (must be 0)
    enrollments: int
    lost: int  # accepted events without an enrollment (must be 0)
    extra_enrollments: int  # enrollments beyond one per accepted event (must be 0)
    emails: int  # requests SendGrid accepted
    sms: int  # requests Twilio accepted
    dup_in_window: int  # repeated emails that were in flight at the kill (documented)
    dup_outside: int  # any other repeat, by message id or by recipient (must be 0)
    sms_unknown: int  # SMS in flight at the kill, held as unknown: at most once, not re-sent
    missing: int  # enrollments whose email or SMS never went out, except held SMS (must be 0)
    stuck: int  # backlog left one lease period after the restart (must be 0)


def in_flight(engine: Engine) -> set[str]:
    """Message ids leased to a sender at this moment: after a kill, the in-doubt window."""
    m = t.messages
    with engine.connect() as conn:
        return set(conn.execute(select(m.c.idempotency_key)
                                .where(m.c.status.in_(("claimed", "sending")))).scalars())


def backlog(engine: Engine, now: int | None = None) -> int:
    """Work not done: pending events, unsent or leased messages, open journeys already due."""
    m, e, ev = t.messages, t.enrollments, t.events
    at = int(time.time()) if now is None else now
    with engine.connect() as conn:
        events = conn.execute(select(func.count()).select_from(ev)
                              .where(ev.c.processed.is_(False))).scalar_one()
        messages = conn.execute(select(func.count()).select_from(m).where(
            m.c.status.in_(("pending", "failed", "claimed", "sending")))).scalar_one()
        due = conn.execute(select(func.count()).select_from(e).where(
            e.c.state.in_(("active", "waiting")), e.c.due_at <= at)).scalar_one()
    return int(events + messages + due)


def provider_log(sendgrid: FakeSendGrid, twilio: FakeTwilio,
                 seed: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(message id, recipient) of every request each provider accepted for this trial."""
    emails: list[tuple[str, str]] = []
    for item in sendgrid.received:
        mail = json.loads(item.body)
        person = mail["personalizations"][0]
        if person["to"][0]["email"].startswith(f"t{seed}-"):
            emails.append((person["custom_args"]["cadenza_message_id"],
                           person["to"][0]["email"]))
    texts: list[tuple[str, str]] = []
    for item in twilio.received:
        form = dict(parse_qsl(item.body.decode()))
        if not form.get("To", "").startswith(f"+1555{seed:05d}"):
            continue
        query = dict(parse_qsl(urlsplit(form.get("StatusCallback", "")).query))
        texts.append((query.get("cadenza_message_id", "?"), form.get("To", "?")))
    return emails, texts


def _repeats(sends: list[tuple[str, str]], allowed: set[str]) -> tuple[int, int]:
    """(repeats of allowed ids, every other repeat by message id or by recipient)."""
    by_id = Counter(mid for mid, _ in sends)
    inside = sum(n - 1 for mid, n in by_id.items() if mid in allowed)
    outside = sum(n - 1 for mid, n in by_id.items() if mid not in allowed)
    # One message per recipient per channel: a repeat under another id is a step run twice.
    by_to = Counter(to for _, to in sends)
    ids_per_to: dict[str, set[str]] = {}
    for mid, to in sends:
        ids_per_to.setdefault(to, set()).add(mid)
    outside += sum(len(ids) - 1 for ids in ids_per_to.values())
    assert sum(by_to.values()) == len(sends)
    return inside, outside


def count(engine: Engine, accepted: list[str], in_doubt: set[str], stuck: int,
          emails: list[tuple[str, str]], texts: list[tuple[str, str]]) -> Counts:
    e, ev, m = t.enrollments, t.events, t.messages
    with engine.connect() as conn:
        stored = set(conn.execute(select(ev.c.customer_id)
                                  .where(ev.c.name == "cart_abandoned")).scalars())
        enrolled = Counter(conn.execute(select(e.c.customer_id)).scalars())
        unknown_sms = set(conn.execute(select(m.c.customer_id).where(
            m.c.channel == "sms", m.c.status == "unknown")).scalars())
    email_in, email_out = _repeats(emails, in_doubt)
    _, sms_out = _repeats(texts, set())
    mailed = {to for _, to in emails}
    texted = {to for _, to in texts}
    missing = sum(1 for cid in enrolled if email_of(cid) not in mailed)
    missing += sum(1 for cid in enrolled if phone_of(cid) not in texted
                   and cid not in unknown_sms)
    return Counts(
        accepted=len(accepted), not_stored=len(set(accepted) - stored),
        enrollments=sum(enrolled.values()), lost=len(set(accepted) - set(enrolled)),
        extra_enrollments=sum(n - 1 for n in enrolled.values()),
        emails=len(emails), sms=len(texts), dup_in_window=email_in,
        dup_outside=email_out + sms_out, sms_unknown=len(unknown_sms), missing=missing,
        stuck=stuck)


def email_of(cid: str) -> str:
    return customer(*_numbers(cid))[1]


def phone_of(cid: str) -> str:
    return customer(*_numbers(cid))[2]


def _numbers(cid: str) -> tuple[int, int]:
    seed, n = cid[1:].split("-")
    return int(seed), int(n)
