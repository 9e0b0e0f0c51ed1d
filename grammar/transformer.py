"""Syntax tree -> AST: one method per grammar rule, named fields, spans kept."""

from __future__ import annotations

import re
from typing import Any

from lark import Token, Tree
from lark.tree import Meta

from cadenza.grammar import ast
from cadenza.grammar.diagnostics import Span

_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION_PART = re.compile(r"(\d+)([wdhms])")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}


def span_of(meta: Meta) -> Span:
    if getattr(meta, "empty", True):
        return Span(line=1, col=1, end_line=1, end_col=1)
    return Span(line=meta.line, col=meta.column, end_line=meta.end_line, end_col=meta.end_column)


def token_span(tok: Token) -> Span:
    line = tok.line or 1
    col = tok.column or 1
    end_col = tok.end_column or col + 1
    return Span(line=line, col=col, end_line=tok.end_line or line, end_col=end_col)


def ident(tok: Token) -> ast.Ident:
    return ast.Ident(name=str(tok), span=token_span(tok))


def duration(tok: Token) -> ast.Duration:
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(str(tok)))
    return ast.Duration(seconds=seconds, text=str(tok), span=token_span(tok))


def clock(tok: Token) -> ast.Clock:
    hours, minutes = str(tok).split(":")
    return ast.Clock(minutes=int(hours) * 60 + int(minutes), text=str(tok), span=token_span(tok))


def unescape(raw: str) -> str:
    body = raw[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def text(tok: Token | None) -> ast.Text | None:
    if tok is None:
        return None
    return ast.Text(value=unescape(str(tok)), raw=str(tok), span=token_span(tok))


def opt_ident(tok: Token | None) -> ast.Ident | None:
    return None if tok is None else ident(tok)


def number_literal(tok: Token) -> ast.Literal:
    raw = str(tok)
    value = float(raw)
    return ast.Literal(value=value, raw=raw, span=token_span(tok))


def timestamp_literal(tok: Token) -> ast.Literal:
    return ast.Literal(value=str(tok), raw=str(tok), span=token_span(tok))


class ToAst:
    """Each method receives (span, children) for the rule of the same name.

    Two callers share these methods, so both build the same AST: `transform` walks a Lark
    tree (the error-recovery path), and the fast path (grammar/fastpath.py) calls them from
    the LALR parser's reductions. `transform` is a plain post-order walk with a dispatch table:
    Lark's generic Transformer spends more time finding and wrapping callbacks than the
    callbacks take. The parser bounds the tree's depth first, so the recursion is bounded too.
    """

    def __init__(self) -> None:
        self._dispatch: dict[str, Any] = {
            name: getattr(self, name) for name in dir(self)
            if not name.startswith("_") and name not in ("transform", "builder")}

    def transform(self, tree: Tree[Token]) -> Any:
        children = [self.transform(c) if isinstance(c, Tree) else c for c in tree.children]
        return self._dispatch[tree.data](span_of(tree.meta), children)

    def builder(self, rule: str) -> Any:
        """The method for `rule` (a rule's alias or name), for callers outside a tree walk."""
        return self._dispatch[rule]

    def start(self, span: Span, items: list[ast.Item]) -> tuple[ast.Item, ...]:
        return tuple(i for i in items if i is not None)

    # ---------------------------------------------------------------- schema
    def schema(self, span: Span, entries: list[Any]) -> ast.Schema:
        return ast.Schema(entries=tuple(entries), span=span)

    def customer_schema(self, span: Span, fields: list[ast.Field]) -> ast.CustomerSchema:
        return ast.CustomerSchema(fields=tuple(fields), span=span)

    def event_schema(self, span: Span, c: list[Any]) -> ast.EventSchema:
        return ast.EventSchema(name=ident(c[0]), fields=tuple(c[1:]), span=span)

    def field(self, span: Span, c: list[Any]) -> ast.Field:
        type_name, members = c[1]
        return ast.Field(name=ident(c[0]), type_name=type_name, members=members,
                         span=span)

    def simple_type(self, span: Span, c: list[Token]) -> tuple[ast.Ident, tuple[ast.Ident, ...]]:
        return ident(c[0]), ()

    def enum_type(self, span: Span, c: list[Token]) -> tuple[ast.Ident, tuple[ast.Ident, ...]]:
        kw = ast.Ident(name="enum", span=span)
        return kw, tuple(ident(t) for t in c)

    def segment_decl(self, span: Span, c: list[Any]) -> ast.SegmentDecl:
        return ast.SegmentDecl(name=ident(c[0]), title=text(c[1]), cond=c[2], span=span)

    def framework_decl(self, span: Span, c: list[Any]) -> ast.FrameworkDecl:
        return ast.FrameworkDecl(name=ident(c[0]), title=text(c[1]),
                                 stages=tuple(ident(t) for t in c[2:]), span=span)

    # ---------------------------------------------------------------- policies
    def defaults(self, span: Span, c: list[ast.Policy]) -> ast.Defaults:
        return ast.Defaults(policies=tuple(c), span=span)

    def quiet_hours(self, span: Span, c: list[Any]) -> ast.QuietHours:
        return ast.QuietHours(channel=opt_ident(c[0]), start=clock(c[1]), end=clock(c[2]),
                              span=span)

    def send_window(self, span: Span, c: list[Any]) -> ast.SendWindow:
        # Without `on DAYS` the window holds every day (no days listed).
        return ast.SendWindow(channel=opt_ident(c[0]), days=c[1] or (), start=clock(c[2]),
                              end=clock(c[3]), span=span)

    def day_spec(self, span: Span, c: list[ast.DayRange]) -> tuple[ast.DayRange, ...]:
        return tuple(c)

    def day_range(self, span: Span, c: list[Any]) -> ast.DayRange:
        return ast.DayRange(first=ident(c[0]), last=opt_ident(c[1]), span=span)

    def cap(self, span: Span, c: list[Any]) -> ast.Cap:
        return ast.Cap(channel=ident(c[0]), count=number_literal(c[1]), per=duration(c[2]),
                       action=opt_ident(c[3]), span=span)

    def consent(self, span: Span, c: list[Any]) -> ast.Consent:
        return ast.Consent(channel=ident(c[0]), cond=c[1], span=span)

    def rate_limit(self, span: Span, c: list[Any]) -> ast.RateLimit:
        return ast.RateLimit(target=ident(c[0]), count=number_literal(c[1]),
                             per=duration(c[2]), span=span)

    def timezone(self, span: Span, c: list[Any]) -> ast.Timezone:
        zone = text(c[0])
        assert zone is not None
        return ast.Timezone(zone=zone, span=span)

    # ---------------------------------------------------------------- playbook
    def playbook(self, span: Span, c: list[Any]) -> ast.Playbook:
        return ast.Playbook(name=ident(c[0]), title=text(c[1]), members=tuple(c[2:]),
                            span=span)

    def framework_ref(self, span: Span, c: list[Any]) -> ast.FrameworkRef:
        return ast.FrameworkRef(name=ident(c[0]), span=span)

    def touch(self, span: Span, c: list[Any]) -> ast.Touch:
        return ast.Touch(level=ident(c[0]), span=span)

    def owner(self, span: Span, c: list[Any]) -> ast.Owner:
        owner = text(c[0])
        assert owner is not None
        return ast.Owner(owner=owner, span=span)

    def entry(self, span: Span, c: list[Any]) -> ast.Entry:
        return ast.Entry(trigger=c[0], span=span)

    def event_trigger(self, span: Span, c: list[Any]) -> ast.EventTrigger:
        return ast.EventTrigger(event=ident(c[0]), where=c[1], span=span)

    def segment_trigger(self, span: Span, c: list[Any]) -> ast.SegmentTrigger:
        return ast.SegmentTrigger(segment=ident(c[0]), current=False, span=span)

    def segment_member_trigger(self, span: Span, c: list[Any]) -> ast.SegmentTrigger:
        return ast.SegmentTrigger(segment=ident(c[0]), current=True, span=span)

    def every_trigger(self, span: Span, c: list[Any]) -> ast.EveryTrigger:
        return ast.EveryTrigger(day=ident(c[0]), at=clock(c[1]), zone=text(c[2]),
                                span=span)

    def cron_trigger(self, span: Span, c: list[Any]) -> ast.CronTrigger:
        expr = text(c[0])
        assert expr is not None
        return ast.CronTrigger(expr=expr, zone=text(c[1]), span=span)

    def api_trigger(self, span: Span, c: list[Any]) -> ast.ApiTrigger:
        return ast.ApiTrigger(span=span)

    def audience(self, span: Span, c: list[Any]) -> ast.Audience:
        return ast.Audience(cond=c[0], span=span)

    def reenter_never(self, span: Span, c: list[Any]) -> ast.Reenter:
        return ast.Reenter(after=None, span=span)

    def reenter_after(self, span: Span, c: list[Any]) -> ast.Reenter:
        return ast.Reenter(after=duration(c[0]), span=span)

    def exit_event(self, span: Span, c: list[Any]) -> ast.ExitEvent:
        return ast.ExitEvent(event=ident(c[0]), where=c[1], span=span)

    def exit_segment(self, span: Span, c: list[Any]) -> ast.ExitSegment:
        return ast.ExitSegment(segment=ident(c[0]), span=span)

    def goal(self, span: Span, c: list[Any]) -> ast.Goal:
        return ast.Goal(name=ident(c[0]), event=ident(c[1]), where=c[2], within=duration(c[3]),
                        span=span)

    def change_pin(self, span: Span, c: list[Any]) -> ast.ChangePolicy:
        return ast.ChangePolicy(mode="pin", mappings=(), span=span)

    def change_drain(self, span: Span, c: list[Any]) -> ast.ChangePolicy:
        return ast.ChangePolicy(mode="drain", mappings=(), span=span)

    def change_migrate(self, span: Span, c: list[ast.Mapping]) -> ast.ChangePolicy:
        return ast.ChangePolicy(mode="migrate", mappings=tuple(c), span=span)

    def mapping(self, span: Span, c: list[ast.Ident]) -> ast.Mapping:
        return ast.Mapping(old=c[0], new=c[1], span=span)

    def step_ref(self, span: Span, c: list[Token | None]) -> ast.Ident:
        name, number = c
        assert name is not None
        return ast.Ident(name=str(name) if number is None else f"{name}.{number}", span=span)

    # ---------------------------------------------------------------- steps
    def step_item(self, span: Span, c: list[Any]) -> ast.StepItem:
        return ast.StepItem(label=opt_ident(c[0]), step=c[1], span=span)

    def send(self, span: Span, c: list[Any]) -> ast.Send:
        template, inline, subject = c[1]
        return ast.Send(channel=ident(c[0]), template=template, inline=inline, subject=subject,
                        via=c[2], stage=c[3], span=span)

    def template_ref(self, span: Span, c: list[Token]) -> tuple[Any, ...]:
        return text(c[0]), None, None

    def inline_text(self, span: Span, c: list[Any]) -> tuple[Any, ...]:
        return None, text(c[0]), text(c[1])

    def via(self, span: Span, c: list[Token]) -> ast.Ident:
        return ident(c[0])

    def stage(self, span: Span, c: list[Token]) -> ast.Ident:
        return ident(c[0])

    def task(self, span: Span, c: list[Any]) -> ast.Task:
        title = text(c[0])
        assert title is not None
        return ast.Task(title=title, queue=text(c[1]), stage=c[2], span=span)

    def wait(self, span: Span, c: list[Token]) -> ast.Wait:
        return ast.Wait(duration=duration(c[0]), span=span)

    def wait_until_time(self, span: Span, c: list[Any]) -> ast.WaitUntilTime:
        return ast.WaitUntilTime(day=opt_ident(c[0]), at=clock(c[1]), span=span)

    def wait_until_attr(self, span: Span, c: list[Any]) -> ast.WaitUntilAttr:
        sign, offset = c[1] if c[1] is not None else (1, None)
        return ast.WaitUntilAttr(path=c[0], sign=sign, offset=offset, span=span)

    def plus(self, span: Span, c: list[Token]) -> tuple[int, ast.Duration]:
        return 1, duration(c[0])

    def minus(self, span: Span, c: list[Token]) -> tuple[int, ast.Duration]:
        return -1, duration(c[0])

    def wait_event(self, span: Span, c: list[Any]) -> ast.WaitEvent:
        timeout = None if c[3] is None else duration(c[3])
        return ast.WaitEvent(event=ident(c[0]), where=c[1], bind=opt_ident(c[2]),
                             timeout=timeout, otherwise=opt_ident(c[4]), span=span)

    def branch(self, span: Span, c: list[Any]) -> ast.Branch:
        return ast.Branch(arms=tuple(c[:-1]), otherwise=c[-1], span=span)

    def arm(self, span: Span, c: list[Any]) -> ast.Arm:
        return ast.Arm(cond=c[0], target=ident(c[1]), span=span)

    def else_arm(self, span: Span, c: list[Token]) -> ast.Ident:
        return ident(c[0])

    def split(self, span: Span, c: list[Any]) -> ast.Split:
        return ast.Split(name=opt_ident(c[0]), arms=tuple(c[1:-1]), holdout=c[-1],
                         span=span)

    def split_arm(self, span: Span, c: list[Token]) -> ast.SplitArm:
        return ast.SplitArm(percent=number_literal(c[0]), target=ident(c[1]), span=span)

    def holdout(self, span: Span, c: list[Token]) -> ast.Literal:
        return number_literal(c[0])

    def update(self, span: Span, c: list[ast.Assignment]) -> ast.Update:
        return ast.Update(assignments=tuple(c), span=span)

    def assignment(self, span: Span, c: list[Any]) -> ast.Assignment:
        return ast.Assignment(name=ident(c[0]), value=c[1], span=span)

    def goto(self, span: Span, c: list[Token]) -> ast.Goto:
        return ast.Goto(target=ident(c[0]), span=span)

    def end(self, span: Span, c: list[Any]) -> ast.End:
        return ast.End(span=span)

    # ---------------------------------------------------------------- tests
    def test_decl(self, span: Span, c: list[Any]) -> ast.TestDecl:
        name = text(c[0])
        assert name is not None
        return ast.TestDecl(name=name, lines=tuple(c[1:]), span=span)

    def test_playbook(self, span: Span, c: list[Token]) -> ast.TestPlaybook:
        return ast.TestPlaybook(name=ident(c[0]), span=span)

    def test_customer(self, span: Span, c: list[Any]) -> ast.TestCustomer:
        return ast.TestCustomer(pairs=tuple(p for p in c if p is not None), span=span)

    def test_start(self, span: Span, c: list[Token]) -> ast.TestStart:
        return ast.TestStart(at=timestamp_literal(c[0]), span=span)

    def test_event(self, span: Span, c: list[Any]) -> ast.TestEvent:
        pairs = tuple(p for p in c[2:] if p is not None)
        return ast.TestEvent(event=ident(c[0]), at=timestamp_literal(c[1]), pairs=pairs,
                             span=span)

    def test_expect(self, span: Span, c: list[Any]) -> ast.TestExpect:
        at = None if c[2] is None else timestamp_literal(c[2])
        return ast.TestExpect(channel=ident(c[0]), template=text(c[1]), at=at, span=span)

    def test_expect_nothing(self, span: Span, c: list[Any]) -> ast.TestExpect:
        return ast.TestExpect(channel=None, template=None, at=None, span=span)

    def test_until(self, span: Span, c: list[Token]) -> ast.TestUntil:
        return ast.TestUntil(at=timestamp_literal(c[0]), span=span)

    def pair(self, span: Span, c: list[Any]) -> ast.Pair:
        value = c[1] if isinstance(c[1], ast.Literal) else timestamp_literal(c[1])
        return ast.Pair(name=ident(c[0]), value=value, span=span)

    # ---------------------------------------------------------------- conditions
    def or_cond(self, span: Span, c: list[ast.Cond]) -> ast.Cond:
        return c[0] if len(c) == 1 else ast.Or(items=tuple(c), span=span)

    def and_cond(self, span: Span, c: list[ast.Cond]) -> ast.Cond:
        return c[0] if len(c) == 1 else ast.And(items=tuple(c), span=span)

    def not_cond(self, span: Span, c: list[ast.Cond]) -> ast.Not:
        return ast.Not(item=c[0], span=span)

    def segment_ref(self, span: Span, c: list[Token]) -> ast.SegmentRef:
        return ast.SegmentRef(name=ident(c[0]), span=span)

    def compare(self, span: Span, c: list[Any]) -> ast.Compare:
        return ast.Compare(left=c[0], op=str(c[1]), right=c[2], span=span)

    def in_list(self, span: Span, c: list[Any]) -> ast.InList:
        return ast.InList(value=c[0], items=tuple(c[1:]), span=span)

    def is_set(self, span: Span, c: list[Any]) -> ast.IsSet:
        return ast.IsSet(value=c[0], negated=False, span=span)

    def is_not_set(self, span: Span, c: list[Any]) -> ast.IsSet:
        return ast.IsSet(value=c[0], negated=True, span=span)

    def truthy(self, span: Span, c: list[Any]) -> ast.Truthy:
        return ast.Truthy(value=c[0], span=span)

    def path(self, span: Span, c: list[Token]) -> ast.Path:
        return ast.Path(parts=tuple(ident(t) for t in c), span=span)

    def literal(self, span: Span, c: list[Token]) -> ast.Literal:
        tok = c[0]
        span = token_span(tok)
        if tok.type == "STRING":
            return ast.Literal(value=unescape(str(tok)), raw=str(tok), span=span)
        if tok.type in ("TRUE", "FALSE"):
            return ast.Literal(value=tok.type == "TRUE", raw=str(tok), span=span)
        return number_literal(tok)

    def aggregate(self, span: Span, c: list[Any]) -> ast.Aggregate:
        window = None if c[5] is None else duration(c[5])
        return ast.Aggregate(fn=c[0], event=ident(c[1]), prop=opt_ident(c[2]), where=c[3],
                             window=window, span=span)

    def agg_fn(self, span: Span, c: list[Token]) -> str:
        return str(c[0])

    def ago(self, span: Span, c: list[Token]) -> ast.RelativeTime:
        return ast.RelativeTime(duration=duration(c[0]), sign=-1, span=span)

    def from_now(self, span: Span, c: list[Token]) -> ast.RelativeTime:
        return ast.RelativeTime(duration=duration(c[0]), sign=1, span=span)

    def now(self, span: Span, c: list[Token]) -> ast.RelativeTime:
        return ast.RelativeTime(duration=None, sign=0, span=span)
