"""Steps: ids assigned, targets resolved, each step kind checked and compiled."""

from __future__ import annotations

from dataclasses import dataclass

from cadenza.grammar import ast
from cadenza.grammar.diagnostics import Span, did_you_mean
from cadenza.playbooks import model as m
from cadenza.playbooks.conditions import Scope, check_event, compile_cond, compile_value
from cadenza.playbooks.durations import check_bounded
from cadenza.playbooks.policies import DAYS, check_channel, check_clock, check_positive
from cadenza.playbooks.report import Reporter

WAIT_DAYS = {**{k: (v,) for k, v in DAYS.items()}, "day": tuple(range(7)),
             "weekday": (0, 1, 2, 3, 4), "weekend": (5, 6)}
RESERVED_BINDS = frozenset({"customer", "event", "playbook"})


@dataclass(frozen=True)
class StepContext:
    scope: Scope
    framework: m.Framework | None
    ids: frozenset[str]
    rep: Reporter

    @property
    def file(self) -> str:
        return self.scope.file


def assign_ids(items: list[ast.StepItem], file: str, rep: Reporter) -> list[str]:
    """Labels name steps; an unlabelled step is `<previous label>.<n>` ('start' at the top)."""
    ids: list[str] = []
    seen: dict[str, Span] = {}
    block, n = "start", 0
    for item in items:
        if item.label is not None:
            block, n = item.label.name, 1
            if block in seen:
                rep.error("E010", file, item.label.span,
                          f"the step label '{block}' is used twice in this playbook.",
                          hint="rename one of them; labels name steps for goto and branches.",
                          related=((file, seen[block]),))
            seen[block] = item.label.span
            ids.append(block)
            continue
        n += 1
        ids.append(block if n == 1 else f"{block}.{n}")
    return ids


def target(name: ast.Ident, ctx: StepContext) -> str:
    if name.name not in ctx.ids:
        labels = [i for i in ctx.ids if "." not in i]
        ctx.rep.error("E012", ctx.file, name.span,
                      f"unknown step '{name.name}'{did_you_mean(name.name, labels)}",
                      hint="targets name a step label of the same playbook ('label: step').")
    return name.name


def _stage(stage: ast.Ident | None, ctx: StepContext, span: Span) -> str | None:
    fw = ctx.framework
    if stage is None:
        if fw is not None:
            ctx.rep.warning("W041", ctx.file, span,
                            f"this step names no stage of framework '{fw.name}'.",
                            hint=f"add 'stage X' with X one of: {', '.join(fw.stages)}.")
        return None
    if fw is None:
        ctx.rep.error("E034", ctx.file, stage.span,
                      f"stage '{stage.name}' is given, but the playbook declares no framework.",
                      hint="add 'framework aarrr' (or laer, mckinsey_cdj, aidae, or your own).")
    elif stage.name not in fw.stages:
        ctx.rep.error("E034", ctx.file, stage.span,
                      f"'{stage.name}' is not a stage of framework '{fw.name}'"
                      f"{did_you_mean(stage.name, fw.stages)}",
                      hint=f"stages of {fw.name}: {', '.join(fw.stages)}.")
    return stage.name


def compile_step(s: ast.Step, sid: str, nxt: str | None, ctx: StepContext) -> m.Step:
    common = {"id": sid, "next": nxt}
    match s:
        case ast.Send():
            return _send(s, common, ctx)
        case ast.Task():
            return m.TaskStep(**common, title=s.title.value,
                              queue=None if s.queue is None else s.queue.value,
                              stage=_stage(s.stage, ctx, s.span))
        case ast.Wait():
            check_positive(s.duration, ctx.file, ctx.rep)
            return m.WaitStep(**common, seconds=s.duration.seconds)
        case ast.WaitUntilTime():
            return _wait_until_time(s, common, ctx)
        case ast.WaitUntilAttr():
            return _wait_until_attr(s, common, ctx)
        case ast.WaitEvent():
            return _wait_event(s, common, ctx)
        case ast.Branch():
            arms = tuple(m.BranchArm(cond=compile_cond(a.cond, ctx.scope, ctx.rep),
                                     target=target(a.target, ctx)) for a in s.arms)
            other = None if s.otherwise is None else target(s.otherwise, ctx)
            return m.BranchStep(**common, arms=arms, otherwise=other)
        case ast.Split():
            return _split(s, sid, common, ctx)
        case ast.Update():
            return _update(s, common, ctx)
        case ast.Goto():
            return m.GotoStep(id=sid, next=None, target=target(s.target, ctx))
        case ast.End():
            return m.EndStep(id=sid, next=None)


def _send(s: ast.Send, common: dict[str, str | None], ctx: StepContext) -> m.SendStep:
    check_channel(s.channel, ctx.file, ctx.rep)
    if s.channel.name != "email" and s.subject is not None:
        ctx.rep.error("E021", ctx.file, s.subject.span,
                      f"only email has a subject; this step sends {s.channel.name}.",
                      hint="remove the subject: the whole text is the message.")
    if s.channel.name == "email" and s.inline is not None and s.subject is None:
        ctx.rep.error("E040", ctx.file, s.span, "an inline email needs a subject.",
                      hint='write: send email text "..." subject "..."')
    return m.SendStep(
        **common, channel=s.channel.name,
        template=None if s.template is None else s.template.value,
        text=None if s.inline is None else s.inline.value,
        subject=None if s.subject is None else s.subject.value,
        via=None if s.via is None else s.via.name,
        stage=_stage(s.stage, ctx, s.span))


def _wait_until_time(s: ast.WaitUntilTime, common: dict[str, str | None],
                     ctx: StepContext) -> m.WaitUntilTimeStep:
    check_clock(s.at, ctx.file, ctx.rep)
    days: tuple[int, ...] = tuple(range(7))
    if s.day is not None:
        found = WAIT_DAYS.get(s.day.name.lower())
        if found is None:
            ctx.rep.error("E021", ctx.file, s.day.span,
                          f"unknown day '{s.day.name}'{did_you_mean(s.day.name, WAIT_DAYS)}",
                          hint="write a weekday (monday or mon), 'weekday', 'weekend' or 'day'.")
        else:
            days = found
    return m.WaitUntilTimeStep(**common, days=days, minutes=s.at.minutes)


def _wait_until_attr(s: ast.WaitUntilAttr, common: dict[str, str | None],
                     ctx: StepContext) -> m.WaitUntilAttrStep:
    value, t = compile_value(s.path, ctx.scope, ctx.rep)
    if t is not None and (t.type != "timestamp" or not isinstance(value, m.Ref)
                          or value.scope != "customer"):
        ctx.rep.error("E020", ctx.file, s.path.span,
                      f"'wait until' needs a timestamp attribute of the customer, but "
                      f"'{s.path.dotted}' is a {t}.",
                      hint="declare it as 'NAME: timestamp' in schema { customer { ... } }.")
    check_bounded(s.offset, ctx.file, ctx.rep)
    offset = 0 if s.offset is None else s.sign * s.offset.seconds
    return m.WaitUntilAttrStep(**common, attribute=s.path.parts[-1].name, offset_s=offset)


def _wait_event(s: ast.WaitEvent, common: dict[str, str | None],
                ctx: StepContext) -> m.WaitEventStep:
    props = check_event(s.event, ctx.scope, ctx.rep)
    where = None
    if s.where is not None:
        where = compile_cond(s.where, ctx.scope.with_event(props), ctx.rep)
    if s.timeout is None:
        ctx.rep.error("E039", ctx.file, s.span,
                      f"waiting for '{s.event.name}' has no timeout, so a customer who never "
                      "does it would wait forever.",
                      hint="add 'timeout 3d' (and optionally 'else -> LABEL').")
    else:
        check_positive(s.timeout, ctx.file, ctx.rep)
    if s.bind is not None and s.bind.name in RESERVED_BINDS:
        ctx.rep.error("E021", ctx.file, s.bind.span,
                      f"'{s.bind.name}' is reserved and cannot name a waited-for event.",
                      hint="choose another name, e.g. 'as reply'.")
    return m.WaitEventStep(
        **common, event=s.event.name, where=where,
        bind=None if s.bind is None else s.bind.name,
        timeout_s=0 if s.timeout is None else s.timeout.seconds,
        on_timeout=None if s.otherwise is None else target(s.otherwise, ctx))


def _split(s: ast.Split, sid: str, common: dict[str, str | None],
           ctx: StepContext) -> m.SplitStep:
    arms = tuple(m.SplitArm(percent=float(a.percent.value), target=target(a.target, ctx))
                 for a in s.arms)
    holdout = 0.0 if s.holdout is None else float(s.holdout.value)
    total = sum(a.percent for a in arms) + holdout
    if abs(total - 100.0) > 1e-9:
        shown = f"{total:g}"
        ctx.rep.error("E033", ctx.file, s.span,
                      f"the split's percentages add up to {shown}%, not 100%.",
                      hint="make the arms and the holdout sum to exactly 100.")
    name = sid if s.name is None else s.name.name
    return m.SplitStep(**common, name=name, arms=arms, holdout=holdout)


def _update(s: ast.Update, common: dict[str, str | None], ctx: StepContext) -> m.UpdateStep:
    out: list[m.Assign] = []
    customer = ctx.scope.schema.customer
    for a in s.assignments:
        value, vt = compile_value(a.value, ctx.scope, ctx.rep)
        t = customer.get(a.name.name)
        if t is None or a.name.name == "id":
            ctx.rep.error("E015", ctx.file, a.name.span,
                          f"cannot update unknown customer attribute '{a.name.name}'"
                          f"{did_you_mean(a.name.name, customer)}",
                          hint="declare it in: schema { customer { NAME: TYPE } }")
        elif vt is not None and not _assignable(t, vt, value):
            ctx.rep.error("E020", ctx.file, a.value.span,
                          f"'{a.name.name}' is a {t}, but the value given is a {vt}.",
                          hint=f"assign a {t} value.")
        out.append(m.Assign(attribute=a.name.name, value=value))
    return m.UpdateStep(**common, assignments=tuple(out))


def _assignable(t: m.AttrType, vt: m.AttrType, value: m.Value) -> bool:
    if t.type == "enum":
        return vt.type == "enum" or (isinstance(value, m.Const) and value.value in t.members)
    return t.type == vt.type
