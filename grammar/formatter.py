"""The canonical layout of a playbook file: `format_document(doc, source) -> str`.

Formatting runs in three passes:

1. the AST becomes `Row`s — one output line each, tagged with the source lines it came from;
2. comments are woven in: an own-line comment goes before the first row that starts on a later
   source line, a trailing comment at the end of the last row that starts on or before its line;
3. the rows are printed, keeping one blank line where the source had any between two of them.

A statement that does not fit in `MAX_WIDTH` columns wraps: its condition by the rules in
`format_cond`; a test's `customer { ... }` or event properties one `name = value` per line,
one level in, commas between them (none after the last), and `}` on its own line at the
statement's indentation; an `update` keeps its first assignment on its line and puts each
further one on a continuation line two levels (4 spaces) deeper, like a condition's operands.
Width counts code points of the code alone: a comment after it never changes the layout.

All the rows of a wrapped statement stand for all of its source lines, so comments treat it
exactly like a one-line statement: a trailing comment goes at the end of its last line, and a
comment written inside it moves after it.

Everything a reader typed that carries meaning (durations, clocks, numbers, strings) is printed
from its `.text` / `.raw`, so formatting never changes what a playbook means.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from cadenza.grammar import ast
from cadenza.grammar.diagnostics import Span
from cadenza.grammar.format_cond import (
    HANG,
    INDENT,
    Line,
    fits,
    format_value,
    layout_cond,
)

__all__ = ["format_document"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One output line; `start`/`end` are the source lines it stands for."""

    depth: int
    text: str
    start: int
    end: int
    kind: Literal["line", "open", "close", "comment"] = "line"
    item_end: bool = False  # the last row of a top-level item


@dataclass(frozen=True, slots=True)
class CondStmt:
    """A statement ending in a condition that may wrap: `head`, the condition, then `tail`."""

    head: str
    cond: ast.Cond
    tail: str = ""


@dataclass(frozen=True, slots=True)
class PairsStmt:
    """A test line ending in a non-empty `{ name = value, ... }` block that may wrap."""

    head: str
    pairs: tuple[ast.Pair, ...]


@dataclass(frozen=True, slots=True)
class ListStmt:
    """`head` and a comma-separated list that may wrap: an `update`'s assignments."""

    head: str
    items: tuple[str, ...]


# What one statement prints, before it is fitted to the width at its depth.
Stmt = str | CondStmt | PairsStmt | ListStmt


def format_document(doc: ast.Document, source: str) -> str:
    """The canonical text of `doc`; `source` is the text it was parsed from (for comments).

    `doc` must come from a parse without diagnostics: a document recovered from syntax errors
    lacks the tokens recovery dropped, and formatting it would delete them from the file.
    """
    lines = source.removeprefix("\ufeff").split("\n")  # lines as lark counts them
    rows: list[Row] = []
    for item in doc.items:
        item_rows = list(_item(item, 0))
        rows.extend(item_rows[:-1])
        rows.append(replace(item_rows[-1], item_end=True))
    woven = _weave(rows, doc.comments, lines)
    return "".join(_render(woven, lines))


# ------------------------------------------------------------------ pass 1: AST -> rows
def _line(depth: int, text: str, span: Span) -> Row:
    return Row(depth=depth, text=text, start=span.line, end=span.end_line)


def _rows(depth: int, stmt: Stmt, span: Span) -> Iterator[Row]:
    """The statement's lines; every one stands for the whole span (see the module docstring)."""
    for line_depth, text in _lines(stmt, depth):
        yield _line(line_depth, text, span)


def _lines(stmt: Stmt, depth: int) -> list[Line]:
    match stmt:
        case str():
            return [(depth, stmt)]
        case CondStmt(head=head, cond=cond, tail=tail):
            return layout_cond(cond, depth, head, tail)
        case PairsStmt():
            return _pair_lines(stmt, depth)
        case ListStmt():
            return _list_lines(stmt, depth)


def _pair_lines(stmt: PairsStmt, depth: int) -> list[Line]:
    texts = [f"{p.name.name} = {p.value.raw}" for p in stmt.pairs]
    one = f"{stmt.head} {{ {', '.join(texts)} }}"
    if fits(depth, one):
        return [(depth, one)]
    # The grammar wants commas between pairs; none after the last, as on one line.
    body = [(depth + 1, text + ",") for text in texts[:-1]] + [(depth + 1, texts[-1])]
    return [(depth, f"{stmt.head} {{"), *body, (depth, "}")]


def _list_lines(stmt: ListStmt, depth: int) -> list[Line]:
    one = stmt.head + ", ".join(stmt.items)
    if fits(depth, one):
        return [(depth, one)]
    first, *rest = [item + "," for item in stmt.items[:-1]] + [stmt.items[-1]]
    return [(depth, stmt.head + first), *((depth + HANG, item) for item in rest)]


def _with_where(head: str, where: ast.Cond | None, tail: str = "") -> Stmt:
    """`head [where <cond>] tail`: the optional clause of triggers, exits, goals and waits."""
    return head + tail if where is None else CondStmt(f"{head} where ", where, tail)


def _prefixed(prefix: str, stmt: Stmt) -> Stmt:
    return prefix + stmt if isinstance(stmt, str) else replace(stmt, head=prefix + stmt.head)


def _block(depth: int, head: str, span: Span, head_end: int,
           body: Iterable[Row]) -> Iterator[Row]:
    """`head {` (source lines span.line..head_end), the body, and `}` on the span's last line."""
    yield Row(depth=depth, text=f"{head} {{", start=span.line, end=head_end, kind="open")
    yield from body
    yield Row(depth=depth, text="}", start=span.end_line, end=span.end_line, kind="close")


def _titled(keyword: str, name: ast.Ident, title: ast.Text | None) -> str:
    return f"{keyword} {name.name}" + ("" if title is None else f" {title.raw}")


def _head_end(name: ast.Ident, title: ast.Text | None) -> int:
    return (name if title is None else title).span.end_line


def _item(item: ast.Item, depth: int) -> Iterator[Row]:
    match item:
        case ast.Schema(entries=entries, span=span):
            body = (r for e in entries for r in _schema_entry(e, depth + 1))
            yield from _block(depth, "schema", span, span.line, body)
        case ast.SegmentDecl(name=name, title=title, cond=cond, span=span):
            head = f"{_titled('segment', name, title)} = "
            yield from _rows(depth, CondStmt(head, cond), span)
        case ast.FrameworkDecl(name=name, title=title, stages=stages, span=span):
            stage_line = Row(depth=depth + 1, text="stages " + ", ".join(s.name for s in stages),
                             start=stages[0].span.line, end=stages[-1].span.end_line)
            yield from _block(depth, _titled("framework", name, title), span,
                              _head_end(name, title), [stage_line])
        case ast.Defaults(policies=policies, span=span):
            body = (r for p in policies for r in _rows(depth + 1, _policy(p), p.span))
            yield from _block(depth, "defaults", span, span.line, body)
        case ast.Playbook(name=name, title=title, members=members, span=span):
            body = (r for m in members for r in _member(m, depth + 1))
            yield from _block(depth, _titled("playbook", name, title), span,
                              _head_end(name, title), body)
        case ast.TestDecl(name=name, lines=test_lines, span=span):
            body = (r for t in test_lines for r in _rows(depth + 1, _test_line(t), t.span))
            yield from _block(depth, f"test {name.raw}", span, name.span.end_line, body)


def _schema_entry(entry: ast.CustomerSchema | ast.EventSchema, depth: int) -> Iterator[Row]:
    head = "customer" if isinstance(entry, ast.CustomerSchema) else f"event {entry.name.name}"
    body = (_line(depth + 1, _field(f), f.span) for f in entry.fields)
    yield from _block(depth, head, entry.span, entry.span.line, body)


def _field(field: ast.Field) -> str:
    if field.members:
        return f"{field.name.name}: enum({', '.join(m.name for m in field.members)})"
    return f"{field.name.name}: {field.type_name.name}"


def _member(member: ast.Member, depth: int) -> Iterator[Row]:
    match member:
        case ast.StepItem():
            yield from _step_item(member, depth)
        case ast.ChangePolicy(mode="migrate", mappings=mappings, span=span):
            body = (_line(depth + 1, f"{m.old.name} -> {m.new.name}", m.span) for m in mappings)
            yield from _block(depth, "on change migrate", span, span.line, body)
        case ast.QuietHours() | ast.SendWindow() | ast.Cap() | ast.Consent() | ast.RateLimit():
            yield from _rows(depth, _policy(member), member.span)
        case ast.Timezone():
            yield from _rows(depth, _policy(member), member.span)
        case _:
            yield from _rows(depth, _setting(member), member.span)


def _step_item(item: ast.StepItem, depth: int) -> Iterator[Row]:
    label = "" if item.label is None else f"{item.label.name}: "
    step = item.step
    match step:
        case ast.Branch(arms=arms, otherwise=otherwise):
            body = [r for a in arms
                    for r in _rows(depth + 1, CondStmt("when ", a.cond, f" -> {a.target.name}"),
                                   a.span)]
            if otherwise is not None:
                body.append(_line(depth + 1, f"else -> {otherwise.name}", otherwise.span))
            yield from _block(depth, f"{label}branch", item.span, step.span.line, body)
        case ast.Split(name=name, arms=split_arms, holdout=holdout):
            rows = [_line(depth + 1, f"{a.percent.raw}% -> {a.target.name}", a.span)
                    for a in split_arms]
            if holdout is not None:
                rows.append(_line(depth + 1, f"holdout {holdout.raw}%", holdout.span))
            head = f"{label}split" + ("" if name is None else f" {name.name}")
            yield from _block(depth, head, item.span, step.span.line, rows)
        case _:
            yield from _rows(depth, _prefixed(label, _step(step)), item.span)


# ------------------------------------------------------------------ pass 2: comments
def _is_trailing(comment: ast.Comment, lines: Sequence[str]) -> bool:
    before = lines[comment.line - 1][: comment.col - 1] if comment.line <= len(lines) else ""
    return before.strip() != ""


def _slots(rows: Sequence[Row], comments: Sequence[ast.Comment],
           lines: Sequence[str]) -> list[int]:
    """Where each comment goes: slot 2*i is before row i, slot 2*i+1 at the end of row i.

    Slots never decrease, so comments keep their order even when a construct written over
    several lines collapses into one; a second trailing comment for a row, or an own-line
    comment that would land before an earlier comment, moves to the next own-line slot.
    """
    starts = [r.start for r in rows]
    slots: list[int] = []
    last = 0
    for comment in comments:
        trailing = _is_trailing(comment, lines)
        if trailing:
            slot = max(0, 2 * (bisect.bisect_right(starts, comment.line) - 1) + 1)
        else:
            slot = 2 * bisect.bisect_right(starts, comment.line)
        slot = max(slot, last)
        if slot % 2 == 1 and (not trailing or slot == last):
            slot += 1
        slots.append(slot)
        last = slot
    return slots


def _weave(rows: Sequence[Row], comments: Sequence[ast.Comment],
           lines: Sequence[str]) -> list[Row]:
    slots = _slots(rows, comments, lines)
    woven: list[Row] = []
    pending = deque(zip(slots, comments, strict=True))
    for i, row in enumerate([*rows, None]):
        # A comment just before a block's `}` is the last thing inside that block.
        depth = 0 if row is None else row.depth + (row.kind == "close")
        while pending and pending[0][0] == 2 * i:
            comment = pending.popleft()[1]
            woven.append(Row(depth=depth, text=comment.text, start=comment.line,
                             end=comment.line, kind="comment"))
        if row is not None and pending and pending[0][0] == 2 * i + 1:
            woven.append(replace(row, text=f"{row.text}  {pending.popleft()[1].text}"))
        elif row is not None:
            woven.append(row)
    return woven


# ------------------------------------------------------------------ pass 3: printing
def _render(rows: Sequence[Row], lines: Sequence[str]) -> Iterator[str]:
    blanks = [n for n, text in enumerate(lines, start=1) if not text.strip()]
    last_code = max((i for i, r in enumerate(rows) if r.kind != "comment"), default=-1)
    cursor = 0  # the last source line printed so far
    for i, row in enumerate(rows):
        if i > 0 and _blank_before(rows[i - 1], row, cursor, blanks, i <= last_code):
            yield "\n"
        yield f"{INDENT * row.depth}{row.text}\n"
        cursor = max(cursor, row.end)


def _blank_before(prev: Row, row: Row, cursor: int, blanks: Sequence[int],
                  code_follows: bool) -> bool:
    """Top-level items are always apart; elsewhere a blank line is kept, never invented."""
    if prev.item_end and code_follows:
        return True
    if prev.kind == "open" or row.kind == "close":
        return False
    k = bisect.bisect_right(blanks, cursor)
    return k < len(blanks) and blanks[k] < row.start


# ------------------------------------------------------------------ one-line statements
def _policy(policy: ast.Policy) -> Stmt:
    match policy:
        case ast.QuietHours(channel=channel, start=start, end=end):
            return f"quiet hours{_opt(channel)} {start.text}-{end.text}"
        case ast.SendWindow(channel=channel, days=days, start=start, end=end):
            spec = ", ".join(d.first.name + _opt(d.last, "-") for d in days)
            on = f" on {spec}" if days else ""
            return f"send window{_opt(channel)}{on} {start.text}-{end.text}"
        case ast.Cap(channel=channel, count=count, per=per, action=action):
            return f"cap {channel.name} {count.raw} per {per.text}{_opt(action, ' else ')}"
        case ast.Consent(channel=channel, cond=cond):
            return CondStmt(f"consent {channel.name}: ", cond)
        case ast.RateLimit(target=target, count=count, per=per):
            return f"rate limit {target.name} {count.raw} per {per.text}"
        case ast.Timezone(zone=zone):
            return f"timezone {zone.raw}"


def _opt(ident: ast.Ident | None, sep: str = " ") -> str:
    return "" if ident is None else f"{sep}{ident.name}"


def _opt_text(text: ast.Text | None, keyword: str) -> str:
    return "" if text is None else f" {keyword} {text.raw}"


def _setting(setting: ast.Setting) -> Stmt:
    match setting:
        case ast.FrameworkRef(name=name):
            return f"framework {name.name}"
        case ast.Touch(level=level):
            return f"touch {level.name}"
        case ast.Owner(owner=owner):
            return f"owner {owner.raw}"
        case ast.Entry(trigger=trigger):
            return _prefixed("when ", _trigger(trigger))
        case ast.Audience(cond=cond):
            return CondStmt("audience ", cond)
        case ast.Reenter(after=after):
            return "reenter never" if after is None else f"reenter after {after.text}"
        case ast.ExitEvent(event=event, where=where):
            return _with_where(f"exit when event {event.name}", where)
        case ast.ExitSegment(segment=segment):
            return f"exit when leaves segment {segment.name}"
        case ast.Goal(name=name, event=event, where=where, within=within):
            return _with_where(f"goal {name.name}: event {event.name}", where,
                               f" within {within.text}")
        case ast.ChangePolicy(mode=mode):
            return f"on change {mode}"  # migrate has a block: see _member


def _trigger(trigger: ast.Trigger) -> Stmt:
    match trigger:
        case ast.EventTrigger(event=event, where=where):
            return _with_where(f"event {event.name}", where)
        case ast.SegmentTrigger(segment=segment, current=current):
            return f"{'in' if current else 'enters'} segment {segment.name}"
        case ast.EveryTrigger(day=day, at=at, zone=zone):
            return f"every {day.name} at {at.text}{_opt_text(zone, 'in')}"
        case ast.CronTrigger(expr=expr, zone=zone):
            return f"cron {expr.raw}{_opt_text(zone, 'in')}"
        case ast.ApiTrigger():
            return "api"


def _step(step: ast.Step) -> Stmt:
    match step:
        case ast.Send(channel=channel, template=template, inline=inline, subject=subject):
            content = (template.raw if template is not None
                       else f"text {_raw(inline)}{_opt_text(subject, 'subject')}")
            return f"send {channel.name} {content}{_opt(step.via, ' via ')}" + _opt(
                step.stage, " stage ")
        case ast.Task(title=title, queue=queue, stage=stage):
            return f"task {title.raw}{_opt_text(queue, 'to')}{_opt(stage, ' stage ')}"
        case ast.Wait(duration=duration):
            return f"wait {duration.text}"
        case ast.WaitUntilTime(day=day, at=at):
            return f"wait until{_opt(day)} {at.text}"
        case ast.WaitUntilAttr(path=path, sign=sign, offset=offset):
            shift = "" if offset is None else f" {'-' if sign < 0 else '+'} {offset.text}"
            return f"wait until {path.dotted}{shift}"
        case ast.WaitEvent():
            return _wait_event(step)
        case ast.Update(assignments=assignments):
            return ListStmt("update ", tuple(f"{a.name.name} = {format_value(a.value)}"
                                             for a in assignments))
        case ast.Goto(target=target):
            return f"goto {target.name}"
        case ast.End():
            return "end"
        case ast.Branch() | ast.Split():
            raise AssertionError("block steps are laid out by _step_item")


def _raw(text: ast.Text | None) -> str:
    assert text is not None  # an inline send always has its text
    return text.raw


def _wait_event(step: ast.WaitEvent) -> Stmt:
    tail = ""
    if step.bind is not None:
        tail += f" as {step.bind.name}"
    if step.timeout is not None:
        tail += f" timeout {step.timeout.text}"
    if step.otherwise is not None:
        tail += f" else -> {step.otherwise.name}"
    return _with_where(f"wait for event {step.event.name}", step.where, tail)


def _test_line(line: ast.TestLine) -> Stmt:
    match line:
        case ast.TestPlaybook(name=name):
            return f"playbook {name.name}"
        case ast.TestCustomer(pairs=pairs):
            return PairsStmt("customer", pairs) if pairs else "customer {}"
        case ast.TestStart(at=at):
            return f"start {at.raw}"
        case ast.TestEvent(event=event, at=at, pairs=pairs):
            head = f"event {event.name} at {at.raw}"
            return PairsStmt(head, pairs) if pairs else head
        case ast.TestExpect(channel=None):
            return "expect nothing"
        case ast.TestExpect(channel=channel, template=template, at=at):
            when = "" if at is None else f" at {at.raw}"
            return f"expect{_opt(channel)}{'' if template is None else ' ' + template.raw}{when}"
        case ast.TestUntil(at=at):
            return f"run until {at.raw}"

