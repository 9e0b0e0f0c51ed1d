"""One playbook: settings, entries, policies and steps -> a validated `Playbook`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from apscheduler.triggers.cron import CronTrigger

from cadenza.grammar import ast
from cadenza.grammar.diagnostics import Span, did_you_mean
from cadenza.playbooks import model as m
from cadenza.playbooks import policies as pol
from cadenza.playbooks.binding import check_bindings
from cadenza.playbooks.conditions import Scope, check_event, check_segment, compile_cond
from cadenza.playbooks.durations import check_bounded
from cadenza.playbooks.flow import check_flow
from cadenza.playbooks.report import Reporter
from cadenza.playbooks.steps import WAIT_DAYS, StepContext, assign_ids, compile_step
from cadenza.playbooks.templates import Vars, check_source

TOUCH_LEVELS = ("high", "low", "none")
CRON_DAYS = {"day": "*", "weekday": "mon-fri", "weekend": "sat,sun"}
PolicyMap = dict[tuple[str, str | None], tuple[ast.Policy, object]]


@dataclass(frozen=True)
class ProjectContext:
    """What every playbook of a project can refer to."""

    schema: m.Schema
    segments: frozenset[str]
    frameworks: dict[str, m.Framework]
    templates: dict[str, m.Template]
    defaults: PolicyMap
    timezone: str


@dataclass
class _Settings:
    framework: m.Framework | None = None
    framework_name: str | None = None
    touch: str | None = None
    owner: str = ""
    audience: m.Cond | None = None
    reenter: int | None = None
    change: m.ChangePolicy | None = None
    change_ast: ast.ChangePolicy | None = None


def compile_playbook(pb: ast.Playbook, file: str, proj: ProjectContext,
                     rep: Reporter) -> m.Playbook:
    items = [x for x in pb.members if isinstance(x, ast.StepItem)]
    base = Scope(schema=proj.schema, segments=proj.segments, file=file)
    bound = _bound_events(items, base, rep)
    event_props, unknown_event = _trigger_props(pb, proj.schema)
    scope = Scope(schema=proj.schema, segments=proj.segments, file=file,
                  event_props=event_props, bound=bound, lenient_event=unknown_event,
                  event_gaps=_event_gaps(pb, proj.schema, event_props),
                  event_hint="this playbook has no 'when event ...' entry; use customer "
                             "attributes or bind an event with 'wait for event E as NAME'.")
    settings = _settings(pb, scope, proj, rep)
    entries = _entries(pb, scope, proj, rep)
    own = pol.collect([x for x in pb.members if _is_policy(x)], scope, rep)  # type: ignore[misc]
    ids = assign_ids(items, file, rep)
    ctx = StepContext(scope=scope, framework=settings.framework, ids=frozenset(ids), rep=rep)
    steps = tuple(compile_step(it.step, sid, ids[i + 1] if i + 1 < len(ids) else None, ctx)
                  for i, (it, sid) in enumerate(zip(items, ids, strict=True)))
    locations = {sid: m.Location(file=file, line=it.span.line, col=it.span.col)
                 for it, sid in zip(items, ids, strict=True)}
    if settings.change_ast is not None:
        _check_mapping(settings.change_ast, ctx)
    playbook = m.Playbook(
        name=pb.name.name, title="" if pb.title is None else pb.title.value,
        framework=settings.framework_name, touch=settings.touch, owner=settings.owner,
        entries=tuple(entries), audience=settings.audience, reenter_after_s=settings.reenter,
        exits=_exits(pb, scope, rep), goals=_goals(pb, scope, rep),
        policies=pol.merge(proj.defaults, own), change=settings.change or m.ChangePolicy(),
        start=ids[0] if ids else None, steps=steps, file=file, locations=locations,
        positions=_positions(pb, file, own))
    span_of = _span_lookup(items, ids, pb.name.span)
    if not items:
        rep.error("E031", file, pb.name.span, f"playbook '{pb.name.name}' has no steps.",
                  hint="add at least one step, e.g. send email \"welcome\".")
    check_flow(playbook, span_of, rep)
    check_bindings(playbook, proj.templates, span_of, rep)
    _check_playbook(playbook, items, ids, scope, proj, rep)
    return playbook


def _positions(pb: ast.Playbook, file: str, own: PolicyMap) -> m.Positions:
    def at(span: Span) -> m.Location:
        return m.Location(file=file, line=span.line, col=span.col)

    return m.Positions(
        header=at(pb.name.span),
        entries=tuple(at(x.span) for x in pb.members if isinstance(x, ast.Entry)),
        exits=tuple(at(x.span) for x in pb.members
                    if isinstance(x, ast.ExitEvent | ast.ExitSegment)),
        policies={f"{kind}:{channel or '*'}": at(p.span)
                  for (kind, channel), (p, _) in own.items()})


def _is_policy(x: ast.Member) -> bool:
    return isinstance(x, ast.QuietHours | ast.SendWindow | ast.Cap | ast.Consent
                      | ast.RateLimit | ast.Timezone)


def _span_lookup(items: list[ast.StepItem], ids: list[str], default: Span,
                 ) -> Callable[[str], Span]:
    spans = {sid: it.span for it, sid in zip(items, ids, strict=True)}
    return lambda sid: spans.get(sid, default)


def _bound_events(items: list[ast.StepItem], scope: Scope, rep: Reporter,
                  ) -> dict[str, dict[str, m.AttrType]]:
    bound: dict[str, dict[str, m.AttrType]] = {}
    for it in items:
        s = it.step
        if isinstance(s, ast.WaitEvent) and s.bind is not None:
            bound[s.bind.name] = scope.schema.events.get(s.event.name, {})
    return bound


def _trigger_props(pb: ast.Playbook, schema: m.Schema,
                   ) -> tuple[dict[str, m.AttrType] | None, bool]:
    """Properties of the trigger events, and whether some are not known in advance.

    An API enrollment passes whatever properties the caller sends: `event.x` is allowed in
    a `when api` playbook and is not type-checked.
    """
    props: dict[str, m.AttrType] | None = None
    unknown = False
    for x in pb.members:
        if isinstance(x, ast.Entry) and isinstance(x.trigger, ast.ApiTrigger):
            props, unknown = props or {}, True
        if isinstance(x, ast.Entry) and isinstance(x.trigger, ast.EventTrigger):
            found = schema.events.get(x.trigger.event.name)
            unknown = unknown or found is None
            props = {**(props or {}), **(found or {})}
    return props, unknown


def _event_gaps(pb: ast.Playbook, schema: m.Schema, props: dict[str, m.AttrType] | None,
                ) -> dict[str, str]:
    """Each trigger-event property some entry does not carry -> the first such entry, in
    words: a schedule or segment entry carries no event, another event other properties."""
    gaps: dict[str, str] = {}
    for x in pb.members:
        if not isinstance(x, ast.Entry) or isinstance(x.trigger, ast.ApiTrigger):
            continue
        carried = (frozenset(schema.events.get(x.trigger.event.name) or {})
                   if isinstance(x.trigger, ast.EventTrigger) else frozenset())
        for prop in set(props or {}) - carried:
            gaps.setdefault(prop, f"'{_entry_words(x.trigger)}' (line {x.span.line})")
    return gaps


def _entry_words(trigger: ast.Trigger) -> str:
    if isinstance(trigger, ast.EventTrigger):
        return f"when event {trigger.event.name}"
    if isinstance(trigger, ast.SegmentTrigger):
        return f"when {'in' if trigger.current else 'enters'} segment {trigger.segment.name}"
    return "when cron ..." if isinstance(trigger, ast.CronTrigger) else "when every ..."


def _once(seen: dict[str, Span], key: str, span: Span, file: str, rep: Reporter) -> bool:
    if key in seen:
        rep.error("E010", file, span, f"'{key}' is set twice in this playbook.",
                  hint="keep one of the two lines.", related=((file, seen[key]),))
        return False
    seen[key] = span
    return True


def _settings(pb: ast.Playbook, scope: Scope, proj: ProjectContext, rep: Reporter) -> _Settings:
    out, seen, file = _Settings(), dict[str, Span](), scope.file
    for x in pb.members:
        match x:
            case ast.FrameworkRef() if _once(seen, "framework", x.span, file, rep):
                out.framework_name = x.name.name
                out.framework = proj.frameworks.get(x.name.name)
                if out.framework is None:
                    rep.error("E018", file, x.name.span,
                              f"unknown framework '{x.name.name}'"
                              f"{did_you_mean(x.name.name, proj.frameworks)}",
                              hint="built in: aarrr, laer, mckinsey_cdj, aidae; or declare "
                                   "framework NAME { stages a, b, c }.")
            case ast.Touch() if _once(seen, "touch", x.span, file, rep):
                out.touch = _touch(x, file, rep)
            case ast.Owner() if _once(seen, "owner", x.span, file, rep):
                out.owner = x.owner.value
            case ast.Audience() if _once(seen, "audience", x.span, file, rep):
                out.audience = compile_cond(x.cond, _no_event(scope), rep)
            case ast.Reenter() if _once(seen, "reenter", x.span, file, rep):
                check_bounded(x.after, file, rep)
                out.reenter = None if x.after is None else x.after.seconds
            case ast.ChangePolicy() if _once(seen, "on change", x.span, file, rep):
                out.change_ast = x
                out.change = m.ChangePolicy(
                    mode=x.mode,
                    mapping={mp.old.name: mp.new.name for mp in x.mappings})
            case _:
                pass
    return out


def _no_event(scope: Scope) -> Scope:
    return Scope(schema=scope.schema, segments=scope.segments, file=scope.file,
                 event_hint="the audience is checked at entry and at every send, when no "
                            "event is at hand; filter on the event with 'when event E where ...'.")


def _touch(x: ast.Touch, file: str, rep: Reporter) -> str | None:
    if x.level.name not in TOUCH_LEVELS:
        rep.error("E021", file, x.level.span,
                  f"unknown touch level '{x.level.name}'"
                  f"{did_you_mean(x.level.name, TOUCH_LEVELS)}",
                  hint="touch is high, low or none.")
        return None
    return x.level.name


def _entries(pb: ast.Playbook, scope: Scope, proj: ProjectContext,
             rep: Reporter) -> list[m.EntryRule]:
    out: list[m.EntryRule] = []
    for x in pb.members:
        if isinstance(x, ast.Entry):
            entry = _entry(x.trigger, scope, proj, rep)
            if entry is not None:
                out.append(entry)
    if not any(isinstance(x, ast.Entry) for x in pb.members):
        rep.error("E042", scope.file, pb.name.span,
                  f"playbook '{pb.name.name}' has no entry, so no customer can ever enter it.",
                  hint="add one: when event E | when enters segment S | "
                       "when every monday at 09:00 | when cron \"...\" | when api")
    return out


def _entry(t: ast.Trigger, scope: Scope, proj: ProjectContext,
           rep: Reporter) -> m.EntryRule | None:
    match t:
        case ast.EventTrigger():
            props = check_event(t.event, scope, rep)
            where = None if t.where is None else compile_cond(
                t.where, scope.with_event(props), rep)
            return m.EventEntry(event=t.event.name, where=where)
        case ast.SegmentTrigger():
            check_segment(t.segment, scope, rep)
            return m.SegmentEntry(segment=t.segment.name, current=t.current)
        case ast.EveryTrigger():
            return _every(t, scope.file, proj, rep)
        case ast.CronTrigger():
            return _cron(t, scope.file, proj, rep)
        case ast.ApiTrigger():
            return m.ApiEntry()


def _zone(zone: ast.Text | None, file: str, proj: ProjectContext, rep: Reporter) -> str:
    if zone is None:
        return proj.timezone
    pol.check_zone(zone, file, rep)
    return zone.value


def _every(t: ast.EveryTrigger, file: str, proj: ProjectContext,
           rep: Reporter) -> m.ScheduleEntry | None:
    pol.check_clock(t.at, file, rep)
    day = t.day.name.lower()
    if day not in WAIT_DAYS:
        rep.error("E021", file, t.day.span,
                  f"unknown day '{t.day.name}'{did_you_mean(day, WAIT_DAYS)}",
                  hint="write a weekday (monday), 'day', 'weekday' or 'weekend'.")
        return None
    dow = CRON_DAYS.get(day) or day[:3]
    cron = f"{t.at.minutes % 60} {t.at.minutes // 60} * * {dow}"
    return m.ScheduleEntry(cron=cron, zone=_zone(t.zone, file, proj, rep),
                           text=f"every {day} at {t.at.text}")


def _cron(t: ast.CronTrigger, file: str, proj: ProjectContext,
          rep: Reporter) -> m.ScheduleEntry | None:
    zone = _zone(t.zone, file, proj, rep)
    try:
        CronTrigger.from_crontab(t.expr.value)
    except ValueError as exc:
        rep.error("E021", file, t.expr.span, f"{t.expr.raw} is not a valid cron expression: "
                  f"{exc}.", hint='five fields: minute hour day month weekday, e.g. "0 9 * * 1".')
        return None
    fields = t.expr.value.split()
    if len(fields) == 5 and not fields[2].startswith("*") and not fields[4].startswith("*"):
        rep.warning("W044", file, t.expr.span,
                    f"{t.expr.raw} names both a day of the month ({fields[2]}) and a day of the "
                    f"week ({fields[4]}): as in crontab, it fires on every day that matches "
                    "either, not only on days that match both.",
                    hint="keep one of the two ('*' in the other); for one date, name the day "
                         "of the month and the month with '*' as the weekday.")
    return m.ScheduleEntry(cron=t.expr.value, zone=zone, text=f"cron {t.expr.raw}")


def _exits(pb: ast.Playbook, scope: Scope, rep: Reporter) -> tuple[m.ExitRule, ...]:
    out: list[m.ExitRule] = []
    for x in pb.members:
        if isinstance(x, ast.ExitEvent):
            props = check_event(x.event, scope, rep)
            where = None if x.where is None else compile_cond(
                x.where, scope.with_event(props), rep)
            out.append(m.EventExit(event=x.event.name, where=where))
        elif isinstance(x, ast.ExitSegment):
            check_segment(x.segment, scope, rep)
            out.append(m.SegmentExit(segment=x.segment.name))
    return tuple(out)


def _goals(pb: ast.Playbook, scope: Scope, rep: Reporter) -> tuple[m.Goal, ...]:
    out: list[m.Goal] = []
    seen: dict[str, Span] = {}
    for x in pb.members:
        if not isinstance(x, ast.Goal):
            continue
        if not _once(seen, f"goal {x.name.name}", x.name.span, scope.file, rep):
            continue
        props = check_event(x.event, scope, rep)
        where = None if x.where is None else compile_cond(
            x.where, scope.with_event(props), rep)
        pol.check_positive(x.within, scope.file, rep)
        out.append(m.Goal(name=x.name.name, event=x.event.name, where=where,
                          within_s=x.within.seconds))
    return tuple(out)


def _check_mapping(change: ast.ChangePolicy, ctx: StepContext) -> None:
    for mp in change.mappings:
        if mp.new.name not in ctx.ids:
            ctx.rep.error("E012", ctx.file, mp.new.span,
                          f"'on change migrate' moves customers to unknown step "
                          f"'{mp.new.name}'{did_you_mean(mp.new.name, ctx.ids)}",
                          hint="the right side names a step of this version of the playbook.")


def _check_playbook(pb: m.Playbook, items: list[ast.StepItem], ids: list[str], scope: Scope,
                    proj: ProjectContext, rep: Reporter) -> None:
    file = scope.file
    has_sms_consent = any(c.channel == "sms" for c in pb.policies.consent)
    warned_sms = False
    for it, step in zip(items, pb.steps, strict=True):
        if isinstance(step, m.TaskStep) and pb.touch == "none":
            rep.error("E035", file, it.span,
                      "this playbook is 'touch none', but this step is a human task.",
                      hint="use 'touch low' or 'touch high', or send a message instead.")
        if isinstance(step, m.SendStep) and step.channel == "sms" and not has_sms_consent \
                and not warned_sms:
            warned_sms = True
            rep.warning("W036", file, it.span,
                        "this playbook sends SMS but requires no SMS consent.",
                        hint="add 'consent sms: sms_opt_in' (your opt-in attribute) to the "
                             "playbook or to defaults.")
        _check_templates(it, step, scope, proj, rep)
    del ids


def _check_templates(it: ast.StepItem, step: m.Step, scope: Scope, proj: ProjectContext,
                     rep: Reporter) -> None:
    vars_ = Vars(customer=scope.schema.customer, event=scope.event_props, bound=scope.bound,
                 lenient_event=scope.lenient_event, event_gaps=scope.event_gaps)
    where = (scope.file, it.span)
    if isinstance(step, m.TaskStep):
        check_source(step.title, vars_, where, (scope.file, it.span.line), "the task title", rep)
        if step.queue is not None:
            check_source(step.queue, vars_, where, (scope.file, it.span.line), "the task queue",
                         rep)
        return
    if not isinstance(step, m.SendStep):
        return
    if step.text is not None:
        check_source(step.text, vars_, where, (scope.file, it.span.line), "the message", rep)
        if step.subject is not None:
            check_source(step.subject, vars_, where, (scope.file, it.span.line),
                         "the subject", rep)
        return
    assert step.template is not None
    t = proj.templates.get(step.template)
    send = it.step
    assert isinstance(send, ast.Send)
    assert send.template is not None
    if t is None:
        rep.error("E013", scope.file, send.template.span,
                  f"unknown template '{step.template}'"
                  f"{did_you_mean(step.template, proj.templates)}",
                  hint=f"create templates/{step.template}.liquid, or send inline text with "
                       "'text \"...\"'.")
        return
    label = f"template '{t.name}'"
    if step.channel == "email":
        if t.subject is None:
            rep.error("E040", t.file, Span.point(1, 1), f"{label} is sent as email but has "
                      "no subject.", hint="start the file with ---, subject: ..., ---.",
                      related=(where,))
        else:
            check_source(t.subject, vars_, where, (t.file, 2), f"the subject of {label}", rep)
    elif t.subject is not None and step.channel in pol.CHANNELS:  # unknown: E016
        rep.warning("W042", scope.file, send.template.span,
                    f"{label} has a subject, but this step sends {step.channel}, which has "
                    "none: the subject is never sent.",
                    hint=f"use a template without a subject for {step.channel} (its whole text "
                         "is the message), or send this one by email.")
    check_source(t.body, vars_, where, (t.file, t.body_line), label, rep)
