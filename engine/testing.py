"""`cadenza test`: playbook tests run on the real engine, on virtual time, one fresh store each.

A test names one playbook, one customer, events at times, and the sends expected — exactly
those, in order (`expect nothing`: none). Only the named playbook is deployed, so other
playbooks of the project cannot make a test flaky. A failure shows the expected and the actual
timeline side by side, with times in UTC and in the customer's zone, and what was suppressed.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from cadenza.engine import schema as t
from cadenza.engine.dataload import BadValueError, coerce
from cadenza.engine.db import open_engine, sqlite_url
from cadenza.engine.dispatch import Dispatcher
from cadenza.engine.explain_missed import missed
from cadenza.engine.machine import deferred_until
from cadenza.engine.runtime import Runtime
from cadenza.engine.schedules import trigger_segments
from cadenza.engine.segments import matching_ids
from cadenza.engine.simulate import recorders
from cadenza.engine.state import Event
from cadenza.engine.store import Store
from cadenza.playbooks import model as m

DAY = 86_400
HORIZON = 30 * DAY  # how long a test runs past its last event or expected send
TEST_CUSTOMER = "test-customer"


@dataclass(frozen=True)
class Sent:
    channel: str
    template: str | None
    at: int


@dataclass
class Outcome:
    test: m.PlaybookTest
    sent: list[Sent]
    # (at, step, reason, action, released): released is when a deferral let it go, or None.
    suppressed: list[tuple[int, str, str, str, int | None]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # Why nothing may have started, shown under a failure (not a failure by itself).
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems and _matches(self.test.expects, self.sent)


def _matches(expects: tuple[m.Expectation, ...], sent: list[Sent]) -> bool:
    return len(expects) == len(sent) and all(_match(x, s) for x, s in zip(expects, sent,
                                                                           strict=True))


def _match(x: m.Expectation, s: Sent) -> bool:
    return (x.channel == s.channel and (x.template is None or x.template == s.template)
            and (x.at is None or int(x.at.timestamp()) == s.at))


def _epoch(d: datetime) -> int:
    return int(d.timestamp())


def _customer_row(test: m.PlaybookTest, project: m.Project) -> tuple[dict[str, object], list[str]]:
    values = dict(test.customer)
    problems: list[str] = []
    attrs: dict[str, object] = {}
    for key, value in values.items():
        if key in ("id", "email", "phone", "timezone"):
            continue
        attr_type = project.schema_.customer.get(key)
        if attr_type is None:
            continue
        try:
            attrs[key] = coerce(value, attr_type, key)
        except BadValueError as exc:
            problems.append(str(exc))
    row: dict[str, object] = {"id": str(values.get("id", TEST_CUSTOMER)),
                              "email": values.get("email"),
           "phone": values.get("phone"), "timezone": values.get("timezone"),
           "attributes": attrs}
    return row, problems


def _span(test: m.PlaybookTest) -> tuple[int, int]:
    times = [_epoch(e.at) for e in test.events] + [_epoch(x.at) for x in test.expects if x.at]
    start = _epoch(test.start) if test.start else min(times, default=0)
    end = _epoch(test.until) if test.until else max([start, *times]) + HORIZON
    return start, end


def run_test(project: m.Project, test: m.PlaybookTest) -> Outcome:
    row, problems = _customer_row(test, project)
    if problems:
        return Outcome(test=test, sent=[], problems=problems)
    only = {test.playbook: project.playbooks[test.playbook]}
    scoped = project.model_copy(update={"playbooks": only})
    with tempfile.TemporaryDirectory(prefix="cadenza-test-") as tmp:
        store = Store(open_engine(sqlite_url(Path(tmp) / "test.db"), durable=False))
        start, end = _span(test)
        store.upsert_customers([row], now=start)
        runtime = Runtime(project=scoped, store=store)
        runtime.deploy(start)
        cid = str(row["id"])
        events = [Event(customer_id=cid, name=e.event, ts=_epoch(e.at),
                        properties=_props(project, e)) for e in test.events]
        _drive(runtime, Dispatcher(store=store, connectors=recorders(), virtual_time=True,
                                   record_each=False),
               events, start, end)
        outcome = _read(store, test, cid)
        outcome.notes += _why_nothing(store, scoped, test, cid, start)
        store.engine.dispose()
    return outcome


def _why_nothing(store: Store, project: m.Project, test: m.PlaybookTest, cid: str,
                 start: int) -> list[str]:
    """Notes for a failing test. If the customer entered the playbook: the experiment arms
    their journeys took. If not: their events judged as `cadenza explain` judges them, and a
    `when enters segment` playbook whose segment held the customer when the test began (its
    first look only records who is in already)."""
    pb = project.playbooks[test.playbook]
    e = t.enrollments
    with store.engine.connect() as conn:
        journeys = conn.execute(select(e.c.entered_at, e.c.context).where(
            e.c.customer_id == cid, e.c.playbook == pb.name).order_by(e.c.id)).all()
        if journeys:
            return [note for at, context in journeys for note in _arms(at, context)]
        already = [x.segment for x in pb.entries if isinstance(x, m.SegmentEntry)
                   and not x.current and cid in matching_ids(
                       conn, project.segments[x.segment].cond, now=start,
                       segments=project.segments, among=[cid])]
        found = missed(conn, cid, set(), pb.name, project.segments)
    began = ("the test's `start`" if test.start else
             "its earliest event or expected send, as a test without `start` does")
    return [*(f"the customer was already in segment '{name}' when the test began "
              f"({_utc(start)}, {began}); `when enters segment` enrols only customers who join "
              "the segment later, so nothing started. Put `start` before the customer joins "
              "the segment, or use `when in segment` to enrol those already in it."
              for name in already),
            *(f"event {x.event} at {_utc(x.at)} did not start '{x.playbook}': {x.why}"
              for x in found)]


def _arms(entered_at: int, context: dict[str, object] | None) -> list[str]:
    """The experiment arms a journey took: a control arm sends nothing and leaves no other
    trace (a holdout is noted already, as a suppression)."""
    arms = (context or {}).get("arms")
    if not isinstance(arms, dict):
        return []
    return [f"the journey entered at {_utc(entered_at)} took arm '{arm}' of split '{split}'"
            for split, arm in arms.items() if arm != "holdout"]


def _utc(ts: int) -> str:
    return f"{datetime.fromtimestamp(ts, UTC):%Y-%m-%dT%H:%MZ}"


def _props(project: m.Project, e: m.TestEvent) -> dict[str, object]:
    types = project.schema_.events.get(e.event, {})
    return {k: coerce(v, types[k], k) if k in types else v for k, v in e.properties.items()}


def _drive(runtime: Runtime, dispatcher: Dispatcher, events: list[Event], start: int,
           end: int) -> None:
    """One pass is exact per customer; segment triggers need the clock to tick through."""
    step = 900 if trigger_segments(runtime.active) else end - start
    clock = start
    pending = sorted(events, key=lambda e: e.ts)
    while clock < end:
        target = min(end, clock + max(step, 1))
        now = [e for e in pending if e.ts <= target]
        pending = pending[len(now):]
        runtime.process(now, target)
        while dispatcher.dispatch(target):
            pass
        clock = target


def _read(store: Store, test: m.PlaybookTest, cid: str) -> Outcome:
    msg, sup = t.messages, t.suppressions
    with store.engine.connect() as conn:
        # A task has no template: `expect task "QUEUE"` names the queue it went to.
        sent = [Sent(channel=r.channel,
                     template=r.to_address if r.channel == "task" else r.template,
                     at=r.created_at)
                for r in conn.execute(select(msg.c.channel, msg.c.template, msg.c.to_address,
                                             msg.c.created_at)
                                      .where(msg.c.customer_id == cid)
                                      .order_by(msg.c.created_at, msg.c.id))]
        suppressed = [(r.at, r.node, r.reason, r.action, deferred_until(r.detail))
                      for r in conn.execute(select(sup).where(sup.c.customer_id == cid)
                                            .order_by(sup.c.at, sup.c.id))]
    return Outcome(test=test, sent=sent, suppressed=suppressed)


# ---------------------------------------------------------------------- failure messages
def _when(ts: int, zone: str) -> str:
    local = datetime.fromtimestamp(ts, ZoneInfo(zone))
    return f"{_utc(ts)} ({local:%a %H:%M %Z})"


def _expect_text(x: m.Expectation, zone: str) -> str:
    what = x.channel + (f' "{x.template}"' if x.template else "")
    return what + (f" at {_when(_epoch(x.at), zone)}" if x.at else "")


def _sent_text(s: Sent, zone: str) -> str:
    what = s.channel + (f' "{s.template}"' if s.template else "")
    return f"{what} at {_when(s.at, zone)}"


def describe_failure(outcome: Outcome, zone: str) -> str:
    test = outcome.test
    lines = [f'FAIL "{test.name}" ({test.location})']
    lines += [f"  problem: {p}" for p in outcome.problems]
    width = max([len(_expect_text(x, zone)) for x in test.expects] + [len("expected")]) + 2
    lines.append(f"  {'':3}{'expected':{width}}actual")
    for i in range(max(len(test.expects), len(outcome.sent))):
        x = test.expects[i] if i < len(test.expects) else None
        s = outcome.sent[i] if i < len(outcome.sent) else None
        ok = x is not None and s is not None and _match(x, s)
        left = _expect_text(x, zone) if x else "(nothing)"
        right = _sent_text(s, zone) if s else "(nothing)"
        lines.append(f"  {'  ' if ok else '✗ '} {left:{width}}{right}")
    if not test.expects and not outcome.sent:
        lines.append("     (nothing)")
    for at, node, reason, action, released in outcome.suppressed:
        until = "" if released is None else f" until {_when(released, zone)}"
        lines.append(f"  note: at {_when(at, zone)} step '{node}' was {action}{until} "
                     f"({reason})")
    lines += [f"  note: {note}" for note in outcome.notes]
    return "\n".join(lines)
