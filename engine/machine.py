"""Executing steps: one step of one enrollment at its due time, in memory.

The machine never reads a clock and never touches the database: it changes the batch (the
enrollment, the customer, the outbox) and the store writes it all back in one transaction.
Policies are applied at send time, in this order: audience (re-checked; failing it exits),
consent (skip), address (skip), quiet hours and send windows (defer), frequency caps (defer or
skip, as the playbook says). Every suppression is recorded with its reason.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cadenza.engine.render import RenderError, build_context, html_to_text, render_message
from cadenza.engine.sms import sms_segments
from cadenza.engine.state import Batch, Customer, Enrollment, Outgoing, Suppression
from cadenza.engine.timing import (
    SendRules,
    known_zone,
    next_allowed_under,
    next_local_time,
    zone_info,
)
from cadenza.playbooks import model as m

MAX_STEPS_PER_RUN = 1000  # a guard: loops without waits are rejected by the compiler
# A condition with the event (or bound events) it may refer to, judged at a time.
Judge = Callable[[m.Cond, Customer, int, dict[str, Any] | None, dict[str, Any]], bool]


@dataclass(frozen=True)
class Version:
    id: int
    playbook: m.Playbook
    steps: dict[str, m.Step]

    @staticmethod
    def of(version_id: int, playbook: m.Playbook) -> Version:
        return Version(id=version_id, playbook=playbook,
                       steps={s.id: s for s in playbook.steps})


def bucket(*parts: str) -> float:
    """A stable number in [0, 100) for deterministic experiment assignment."""
    digest = hashlib.sha256(":".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 / 100


@dataclass
class Machine:
    project: m.Project
    versions: dict[int, Version]
    judge: Judge
    unsubscribe_base: str = "https://unsubscribe.invalid/"
    # Per (playbook, trigger event): what a template context needs besides the customer.
    _shapes: dict[tuple[str, str], tuple[frozenset[str], dict[str, list[str]]]] = field(
        default_factory=dict)
    # Per (playbook, channel): its send rules (the playbook kept, so its id stays its own).
    _rules: dict[tuple[int, str], tuple[m.Playbook, SendRules, SendRules]] = field(
        default_factory=dict)

    def zone(self, c: Customer) -> str:
        # A zone stored before it was checked (an old row, a direct write) must not stop the
        # batch every customer of it is in: such a customer is in the project's zone.
        own = c.timezone
        return own if own and known_zone(own) else self.project.timezone

    # ------------------------------------------------------------------ driving
    def step(self, e: Enrollment, batch: Batch) -> None:
        """Run the enrollment's current step at its due time."""
        assert e.due_at is not None
        t = e.due_at
        v = self.versions[e.version_id]
        if e.state == "waiting":  # the wait for an event timed out
            wait = v.steps[e.node or ""]
            assert isinstance(wait, m.WaitEventStep)
            e.state = "active"
            self._goto(e, wait.on_timeout if wait.on_timeout is not None else wait.next, t)
            return
        step = v.steps[e.node or ""]
        attempt = e.visit(step.id, t)
        customer = batch.customers[e.customer_id]
        self._run(step, e, customer, v.playbook, batch, t, attempt)

    def _goto(self, e: Enrollment, node: str | None, t: int) -> None:
        e.dirty = True
        if node is None:
            e.end("done", t, "completed")
            return
        e.node, e.due_at = node, t

    def _run(self, s: m.Step, e: Enrollment, c: Customer, pb: m.Playbook, batch: Batch,
             t: int, attempt: int) -> None:
        match s:
            case m.SendStep():
                self._send(s, e, c, pb, batch, t, attempt)
            case m.TaskStep():
                self._task(s, e, c, pb, batch, t, attempt)
            case m.WaitStep():
                self._goto(e, s.next, t + s.seconds)
            case m.WaitUntilTimeStep():
                self._goto(e, s.next, self._clock_time(s, e, c, t))
            case m.WaitUntilAttrStep():
                self._goto(e, s.next, self._attr_time(s, c, t))
            case m.WaitEventStep():
                e.state, e.due_at = "waiting", t + s.timeout_s
            case m.BranchStep():
                self._goto(e, self._branch(s, e, c, t), t)
            case m.SplitStep():
                self._split(s, e, pb, batch, t)
            case m.UpdateStep():
                self._update(s, e, c, t)
                self._goto(e, s.next, t)
            case m.GotoStep():
                self._goto(e, s.target, t)
            case m.EndStep():
                e.end("done", t, "end")

    # ------------------------------------------------------------------ waits and branches
    def _clock_time(self, s: m.WaitUntilTimeStep, e: Enrollment, c: Customer, t: int) -> int:
        u = next_local_time(t, self.zone(c), s.days, s.minutes)
        # The step after this wait already ran at this very moment: a loop (`week: wait until
        # monday 09:00 ... goto week`) whose steps took no time brought the customer back.
        # This moment is used up; wait for the next one, or the loop would spin (and send)
        # without pause.
        if u == t and s.next is not None and f"{s.next}@{t}" in e.trail:
            u = next_local_time(t + 1, self.zone(c), s.days, s.minutes)
        return u

    @staticmethod
    def _attr_time(s: m.WaitUntilAttrStep, c: Customer, t: int) -> int:
        value = c.attributes.get(s.attribute)
        if not isinstance(value, int | float) or isinstance(value, bool):
            return t  # no date to wait for: move on at once (and say so in explain)
        return max(t, int(value) + s.offset_s)

    def _branch(self, s: m.BranchStep, e: Enrollment, c: Customer, t: int) -> str | None:
        for arm in s.arms:
            if self.judge(arm.cond, c, t, e.context.get("event"), e.context.get("bound", {})):
                return arm.target
        return s.otherwise if s.otherwise is not None else s.next

    def _split(self, s: m.SplitStep, e: Enrollment, pb: m.Playbook, batch: Batch,
               t: int) -> None:
        point = bucket(pb.name, s.name, e.customer_id)
        edge = 0.0
        arms = e.context.setdefault("arms", {})
        for arm in s.arms:
            edge += arm.percent
            if point < edge:
                arms[s.name] = arm.target
                self._goto(e, arm.target, t)
                return
        arms[s.name] = "holdout"
        batch.suppressions.append(Suppression(enrollment=e, node=s.id, channel=None,
                                              reason="holdout", action="skipped",
                                              detail=f"held out of split {s.name}", at=t))
        e.end("holdout", t, f"holdout of {s.name}")

    def _update(self, s: m.UpdateStep, e: Enrollment, c: Customer, t: int) -> None:
        for a in s.assignments:
            c.set(a.attribute, self._value(a.value, e, c, t))

    @staticmethod
    def _value(v: m.Value, e: Enrollment, c: Customer, t: int) -> Any:
        match v:
            case m.Const():
                return v.value
            case m.Rel():
                return t + v.offset_s
            case m.Ref(scope="event"):
                return (e.context.get("event") or {}).get(v.name)
            case m.Ref(scope="bound"):
                return e.context.get("bound", {}).get(v.var, {}).get(v.name)
            case m.Ref():
                return c.row().get(v.name)
            case m.Agg():
                return None  # aggregates are for conditions; the compiler types updates

    # ------------------------------------------------------------------ sends
    def _suppress(self, batch: Batch, e: Enrollment, s: m.Step, channel: str | None,
                  reason: str, action: str, detail: str, t: int) -> None:
        batch.suppressions.append(Suppression(enrollment=e, node=s.id, channel=channel,
                                              reason=reason, action=action, detail=detail,
                                              at=t))

    def _blocked(self, s: m.SendStep, e: Enrollment, c: Customer, pb: m.Playbook,
                 batch: Batch, t: int) -> bool:
        """Apply the policies; True when the send does not happen now."""
        ch = s.channel
        if pb.audience is not None and not self.judge(pb.audience, c, t, None, {}):
            self._suppress(batch, e, s, ch, "audience", "exited",
                           "the customer no longer matches the audience", t)
            e.end("exited", t, "left the audience")
            return True
        problem = self._consent_problem(ch, c, pb, t)
        if problem is None and ch in ("email", "sms") and not _address(c, ch):
            problem = ("no_address", f"no {ch} address")
        if problem is not None:
            self._suppress(batch, e, s, ch, problem[0], "skipped", problem[1], t)
            self._goto(e, s.next, t)
            return True
        return self._timing(s, e, c, pb, batch, t)

    def _consent_problem(self, ch: str, c: Customer, pb: m.Playbook,
                         t: int) -> tuple[str, str] | None:
        if (ch == "email" and c.email_revoked) or (ch == "sms" and c.sms_revoked):
            return "consent", f"the customer revoked {ch} consent"
        for rule in pb.policies.consent:
            if rule.channel == ch and not self.judge(rule.cond, c, t, None, {}):
                return "consent", f"the {ch} consent condition is not met"
        return None

    def _timing(self, s: m.SendStep, e: Enrollment, c: Customer, pb: m.Playbook,
                batch: Batch, t: int) -> bool:
        ch, zone = s.channel, self.zone(c)
        rules, quiet = self._send_rules(pb, ch)
        allowed = next_allowed_under(t, zone, rules)
        if allowed > t:
            reason = "send_window" if quiet.allows_at(t, zone_info(zone)) else "quiet_hours"
            self._suppress(batch, e, s, ch, reason, "deferred", deferred_detail(allowed), t)
            e.due_at = allowed
            return True
        for cap in pb.policies.caps:
            if cap.channel != ch:
                continue
            recent = [x for x in batch.sent.get((c.id, ch), []) if x > t - cap.per_s]
            if len(recent) < cap.count:
                continue
            if cap.action == "skip":
                self._suppress(batch, e, s, ch, "cap", "skipped",
                               f"{cap.count} per {cap.per_s}s reached", t)
                self._goto(e, s.next, t)
            else:
                until = sorted(recent)[len(recent) - cap.count] + cap.per_s
                self._suppress(batch, e, s, ch, "cap", "deferred", deferred_detail(until), t)
                e.due_at = until
            return True
        return False

    def _send_rules(self, pb: m.Playbook, ch: str) -> tuple[SendRules, SendRules]:
        """The channel's quiet hours and send windows, and its quiet hours alone."""
        key = (id(pb), ch)
        if key not in self._rules:
            quiet = tuple(q for q in pb.policies.quiet_hours if q.channel in (None, ch))
            windows = tuple(w for w in pb.policies.windows if w.channel in (None, ch))
            self._rules[key] = (pb, SendRules(quiet, windows), SendRules(quiet, ()))
        return self._rules[key][1:]

    def _send(self, s: m.SendStep, e: Enrollment, c: Customer, pb: m.Playbook, batch: Batch,
              t: int, attempt: int) -> None:
        if self._blocked(s, e, c, pb, batch, t):
            return
        try:
            subject, body = self._render(s, e, c, pb)
        except RenderError as exc:
            self._suppress(batch, e, s, s.channel, "render_error", "skipped", str(exc), t)
            self._goto(e, s.next, t)
            return
        segments = sms_segments(body)[1] if s.channel == "sms" else None
        to = _address(c, s.channel)
        batch.outgoing.append(Outgoing(
            enrollment=e, node=s.id, attempt=attempt, channel=s.channel, stage=s.stage,
            connector=s.via, template=s.template, to_address=to, subject=subject, body=body,
            sms_segments=segments, at=t))
        batch.sent.setdefault((c.id, s.channel), []).append(t)
        self._goto(e, s.next, t)

    def _bound_props(self, pb: m.Playbook, name: str) -> list[str]:
        for step in pb.steps:
            if isinstance(step, m.WaitEventStep) and step.bind == name:
                return list(self.project.schema_.events.get(step.event, {}))
        return []

    def _timestamps(self, e: Enrollment, pb: m.Playbook) -> set[str]:
        """Variable names whose epoch values templates should see as local ISO times."""
        schema = self.project.schema_
        names = {n for n, t in schema.customer.items() if t.type == "timestamp"}
        event = schema.events.get(str(e.context.get("event_name", "")), {})
        names |= {f"event.{p}" for p, t in event.items() if t.type == "timestamp"}
        for step in pb.steps:
            if isinstance(step, m.WaitEventStep) and step.bind is not None:
                props = schema.events.get(step.event, {})
                names |= {f"{step.bind}.{p}" for p, t in props.items() if t.type == "timestamp"}
        return names

    def _shape(self, e: Enrollment, pb: m.Playbook,
               ) -> tuple[frozenset[str], dict[str, list[str]]]:
        key = (pb.name, str(e.context.get("event_name", "")))
        if key not in self._shapes:
            bound = {s.bind: self._bound_props(pb, s.bind) for s in pb.steps
                     if isinstance(s, m.WaitEventStep) and s.bind is not None}
            self._shapes[key] = (frozenset(self._timestamps(e, pb)), bound)
        return self._shapes[key]

    def _context(self, e: Enrollment, c: Customer, pb: m.Playbook) -> dict[str, Any]:
        # Declared but missing values render empty, as in Braze and Customer.io; names the
        # schema does not declare never get this far (the compiler rejects them: E038).
        schema = self.project.schema_
        timestamps, bound_props = self._shape(e, pb)
        customer = {**dict.fromkeys(schema.customer), **c.row()}
        event = e.context.get("event")
        if event is not None:
            declared = schema.events.get(str(e.context.get("event_name", "")), {})
            event = {**dict.fromkeys(declared), **event}
        bound = {name: {**dict.fromkeys(bound_props.get(name, [])), **props}
                 for name, props in e.context.get("bound", {}).items()}
        return build_context(customer, event, bound,
                             (pb.name, pb.title), f"{self.unsubscribe_base}{c.id}",
                             zone=self.zone(c), timestamp_names=timestamps)

    def _render(self, s: m.SendStep, e: Enrollment, c: Customer,
                pb: m.Playbook) -> tuple[str | None, str]:
        ctx = self._context(e, c, pb)
        if s.text is not None:
            subject = None if s.subject is None else render_message(s.subject, ctx)
            return subject, render_message(s.text, ctx)
        template = self.project.templates.get(s.template or "")
        if template is None:  # a pinned journey's template, deleted by a later deploy
            raise RenderError(f"The template '{s.template}' is not in the deployed project any "
                              "more (a later deploy removed it); this journey's version still "
                              "sends it, so the message is skipped.")
        subject = None if template.subject is None else render_message(
            template.subject, ctx, name=template.name)
        body = render_message(template.body, ctx, name=template.name)
        return subject, body if s.channel == "email" else html_to_text(body)

    def _task(self, s: m.TaskStep, e: Enrollment, c: Customer, pb: m.Playbook, batch: Batch,
              t: int, attempt: int) -> None:
        # A human task goes to the team, not the customer: no quiet hours, caps or consent.
        try:
            ctx = self._context(e, c, pb)
            title = render_message(s.title, ctx)
            queue = None if s.queue is None else _queue(render_message(s.queue, ctx), s.queue)
        except RenderError as exc:
            self._suppress(batch, e, s, "task", "render_error", "skipped", str(exc), t)
            self._goto(e, s.next, t)
            return
        batch.outgoing.append(Outgoing(
            enrollment=e, node=s.id, attempt=attempt, channel="task", stage=s.stage,
            connector=None, template=None, to_address=queue, subject=None, body=title,
            sms_segments=None, at=t))
        self._goto(e, s.next, t)


def deferred_detail(at: int) -> str:
    """A deferral's detail; `deferred_until` reads it back (explain, tests, the status page,
    the timeline)."""
    return f"until {at}"


_UNTIL = re.compile(r"until (\d+)")


def deferred_until(detail: str | None) -> int | None:
    """The instant a `deferred_detail` names; None for any other detail."""
    found = None if detail is None else _UNTIL.fullmatch(detail)
    return int(found[1]) if found else None


def _queue(rendered: str, source: str) -> str:
    """A task's queue as rendered for this customer (`to "{{ account_manager }}"`)."""
    queue = rendered.strip()
    if not queue:  # a task for no one would be lost without a trace
        raise RenderError(f'The task\'s queue "{source}" rendered empty for this customer; set '
                          "the attribute it names, or give it a default "
                          '(| default: "team").')
    return queue


def _address(c: Customer, channel: str) -> str | None:
    return c.email if channel == "email" else c.phone if channel == "sms" else None
