"""Fault-storm trials: local SendGrid and Twilio servers that log every request, the project the
engine runs, and the checker that turns the servers' logs and the outbox into violations.

The checker is the oracle: it reads only what the providers saw (arrival times, the message id
each request carried, the fault it met, whether the provider acted on it) and the final rows,
and says in sentences what broke. The same checker runs over a deliberately broken dispatcher
to show it can fail.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

from sqlalchemy import Engine, select

from cadenza.engine import schema as t
from tests.providers.faults import Fault, StormPlan, label_of
from tests.providers.http import FakeHttpServer, Received, Reply
from tests.providers.sendgrid import FakeSendGrid
from tests.providers.twilio import FakeTwilio

SID = "AC" + "0" * 32
SG_KEY = "SG.storm-key"
TW_TOKEN = "tw-storm-token"
CALLBACK = "https://hooks.shop.example/webhooks/twilio/status"
IN_DOUBT = frozenset({"slow", "drop", "accept_drop"})  # no answer reached the client
TERMINAL = frozenset({"sent", "dead", "unknown"})
PLAY = """\
schema {
  customer { sms_opt_in: bool }
  event clicked { }
}

defaults {
  rate limit email RATE per 1s
  rate limit sms RATE per 1s
}

playbook storm "Storm" {
  when event clicked
  consent sms: sms_opt_in
  send email "hello"
  send sms text "Hi there"
}
"""
TEMPLATE = "---\nsubject: Hello\n---\n<p>Hello</p>\n"


@dataclass
class Hit:
    """One request as the provider saw it."""

    at: float  # time.monotonic() on arrival
    key: str  # the cadenza message id it carried
    fault: str  # label_of(the fault it met): none, 429, 500, slow, drop, accept_drop
    retry_after: float | None = None
    accepted: bool = False  # the provider acted on it, whether or not the client heard


class _Logged(FakeHttpServer):
    """Logs a Hit per request; faults come from a StormPlan; `doomed` recipients always 500."""

    def setup_storm(self, plan: StormPlan, doomed: Iterable[str] = ()) -> None:
        self.storm = plan
        self.doomed = frozenset(doomed)
        self.hits: list[Hit] = []
        self._local = threading.local()
        self._hits_lock = threading.Lock()
        self.faults = _Drawn(self._local)

    def key_and_recipient(self, received: Received) -> tuple[str, str]:
        raise NotImplementedError

    def record(self, received: Received) -> None:
        super().record(received)
        key, recipient = self.key_and_recipient(received)
        fault = Fault("status", 500) if recipient in self.doomed else self.storm.next()
        ra = float(fault.retry_after) if fault and fault.retry_after else None
        hit = Hit(time.monotonic(), key, label_of(fault), ra)
        with self._hits_lock:
            self.hits.append(hit)
        self._local.fault, self._local.hit = fault, hit

    def app(self, received: Received) -> Reply:
        reply = super().app(received)
        if 200 <= reply.status < 300:
            self._local.hit.accepted = True
        return reply

    def logged(self) -> list[Hit]:
        with self._hits_lock:
            return list(self.hits)


class _Drawn(StormPlan):
    """Hands the handler the fault `record` drew for this request (same thread)."""

    def __init__(self, local: threading.local) -> None:
        super().__init__([(None, 1)])
        self._drawn_local = local

    def next(self, stage: str | None = None) -> Fault | None:
        fault: Fault | None = getattr(self._drawn_local, "fault", None)
        return fault


class StormSendGrid(_Logged, FakeSendGrid):
    def key_and_recipient(self, received: Received) -> tuple[str, str]:
        mail = received.json()
        personalization = mail["personalizations"][0]
        return (personalization["custom_args"]["cadenza_message_id"],
                personalization["to"][0]["email"])


class StormTwilio(_Logged, FakeTwilio):
    def key_and_recipient(self, received: Received) -> tuple[str, str]:
        form = dict(parse_qsl(received.body.decode()))
        query = parse_qs(urlsplit(form["StatusCallback"]).query)
        return query["cadenza_message_id"][0], form["To"]


def storm(limit: int | None = None) -> StormPlan:
    """Bursts of every fault kind between calm stretches: 25 faults in every 60 requests."""
    return StormPlan([
        (None, 10), (Fault("status", 429, retry_after="2"), 6), (None, 6),
        (Fault("status", 500), 4), (None, 5), (Fault("slow", delay_s=0.6), 2), (None, 5),
        (Fault("drop"), 2), (None, 4), (Fault("accept_drop"), 2), (None, 4),
        (Fault("status", 503), 3), (Fault("status", 429, retry_after="1"), 6)], limit=limit)


# ------------------------------------------------------------------ the project
def write_project(root: Path, rate: int, connectors_toml: str = "") -> Path:
    (root / "templates").mkdir(parents=True)
    (root / "main.play").write_text(PLAY.replace("RATE", str(rate)), encoding="utf-8")
    (root / "templates" / "hello.liquid").write_text(TEMPLATE, encoding="utf-8")
    if connectors_toml:
        (root / "cadenza.toml").write_text(connectors_toml, encoding="utf-8")
    return root


def connector_configs(sendgrid: str, twilio: str, timeout_s: float) -> dict[str, Any]:
    return {
        "email": {"type": "sendgrid", "api_key_env": "STORM_SG_KEY", "host": sendgrid,
                  "from_email": "shop@shop.example", "timeout_s": timeout_s},
        "sms": {"type": "twilio", "account_sid": SID, "auth_token_env": "STORM_TW_TOKEN",
                "from_number": "+15550001111", "base_url": twilio, "timeout_s": timeout_s,
                "status_callback": CALLBACK}}


def email_of(i: int) -> str:
    return f"c{i}@example.com"


def phone_of(i: int) -> str:
    return f"+1555{i:07d}"


def outbox(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(t.messages)))


def until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:g} s waiting for {what}.")
        time.sleep(0.1)


# ------------------------------------------------------------------ the checker
@dataclass(frozen=True)
class Rules:
    """What the configuration promises: `count` per `per_s` per connector, attempts."""

    count: int
    per_s: float
    max_attempts: int


@dataclass
class Report:
    violations: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)


def busiest_window(times: Sequence[float], per_s: float) -> tuple[int, float]:
    """The most requests in any half-open window [t, t + per_s), and where it starts."""
    ordered = sorted(times)
    best, start, j = 0, 0.0, 0
    for i, at in enumerate(ordered):
        j = max(j, i)
        while j < len(ordered) and ordered[j] < at + per_s:
            j += 1
        if j - i > best:
            best, start = j - i, at
    return best, start


def check(logs: dict[str, list[Hit]], rows: Sequence[Any], rules: Rules) -> Report:
    """Every violation of the storm guarantees, as sentences, and the run's figures."""
    report = Report()
    by_key: dict[str, list[Hit]] = defaultdict(list)
    for connector, hits in logs.items():
        _check_rate(connector, hits, rules, report)
        for hit in sorted(hits, key=lambda h: h.at):
            by_key[hit.key].append(hit)
    faults = Counter(h.fault for hits in logs.values() for h in hits if h.fault != "none")
    report.figures.update(messages=len(rows), requests=sum(len(h) for h in logs.values()),
                          faults=dict(sorted(faults.items())))
    statuses: Counter[str] = Counter()
    for row in rows:
        statuses[row.status] += 1
        _check_row(row, by_key.get(row.idempotency_key, []), rules, report)
    in_doubt = {k for k, hs in by_key.items() if any(h.accepted and h.fault in IN_DOUBT
                                                     for h in hs)}
    duplicates = {k for k, hs in by_key.items() if sum(h.accepted for h in hs) > 1}
    report.figures.update(
        statuses=dict(sorted(statuses.items())), retries=report.figures["requests"] - len(rows),
        accepted_in_doubt=len(in_doubt), duplicates=len(duplicates),
        duplicates_in_doubt=len(duplicates & in_doubt))
    sms = {h.key for h in logs.get("sms", [])}
    for key in sorted(duplicates & sms):
        report.violations.append(f"SMS {key!r} was accepted twice; SMS is at most once "
                                 "(docs/connectors.md).")
    for key in sorted(duplicates - in_doubt - sms):
        report.violations.append(f"message {key!r} was accepted twice without an in-doubt "
                                 "answer before it.")
    return report


def _check_rate(connector: str, hits: list[Hit], rules: Rules, report: Report) -> None:
    most, start = busiest_window([h.at for h in hits], rules.per_s)
    report.figures[f"busiest_{rules.per_s:g}s_{connector}"] = most
    if most > rules.count:
        report.violations.append(
            f"{connector}: {most} requests reached the provider within {rules.per_s:g} s "
            f"(from t={start:.3f}); the limit is {rules.count}.")


def _check_row(row: Any, hits: list[Hit], rules: Rules, report: Report) -> None:
    key, status = row.idempotency_key, row.status
    problems = report.violations
    if status not in TERMINAL:
        problems.append(f"message {key!r} ended {status!r}, not sent, dead or unknown.")
        return
    if not hits:
        problems.append(f"message {key!r} is {status!r} but never reached the provider.")
        return
    _check_retry_after(key, hits, problems)
    accepted = sum(h.accepted for h in hits)
    first_doubt = next((i for i, h in enumerate(hits) if h.fault in IN_DOUBT), None)
    if first_doubt is not None and first_doubt < len(hits) - 1:
        problems.append(f"message {key!r} was sent again after an in-doubt attempt "
                        f"({hits[first_doubt].fault}); it must be held, not retried.")
    if len(hits) > rules.max_attempts:
        problems.append(f"message {key!r} reached the provider {len(hits)} times; the "
                        f"configured maximum is {rules.max_attempts}.")
    if status == "sent" and not (accepted and hits[-1].fault == "none"):
        problems.append(f"message {key!r} is 'sent' but its last request met "
                        f"{hits[-1].fault!r}.")
    if status == "unknown" and hits[-1].fault not in IN_DOUBT:
        problems.append(f"message {key!r} is 'unknown' but its last request met "
                        f"{hits[-1].fault!r}, which has a clear answer.")
    if status == "dead" and (accepted or len(hits) != rules.max_attempts):
        problems.append(f"message {key!r} was dead-lettered after {len(hits)} requests "
                        f"({accepted} accepted); the configured attempts are "
                        f"{rules.max_attempts}.")
    if row.attempts != len(hits):
        problems.append(f"message {key!r} counts {row.attempts} attempts; the provider saw "
                        f"{len(hits)}.")


def _check_retry_after(key: str, hits: list[Hit], problems: list[str]) -> None:
    for before, after in itertools.pairwise(hits):
        if before.retry_after is not None and after.at - before.at < before.retry_after:
            problems.append(f"message {key!r} was retried {after.at - before.at:.2f} s after "
                            f"a 429 that asked for Retry-After {before.retry_after:g} s.")
