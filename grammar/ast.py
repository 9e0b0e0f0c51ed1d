"""The syntax tree of a playbook file: one frozen class per grammar rule, each with its span.

The AST says what was written, not what it means: names are unresolved, durations are
kept with the text the author typed (the formatter prints them back), and nothing is checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from cadenza.grammar.diagnostics import Span

_AST = {"frozen": True, "slots": True, "kw_only": True}


@dataclass(**_AST)
class Ident:
    name: str
    span: Span


@dataclass(**_AST)
class Duration:
    seconds: int
    text: str
    span: Span


@dataclass(**_AST)
class Clock:
    """A time of day, minutes after midnight."""

    minutes: int
    text: str
    span: Span


@dataclass(**_AST)
class Text:
    """A string literal, unescaped; `raw` is the literal as written, quotes included."""

    value: str
    raw: str
    span: Span


# ------------------------------------------------------------------ values and conditions
@dataclass(**_AST)
class Path:
    parts: tuple[Ident, ...]
    span: Span

    @property
    def dotted(self) -> str:
        return ".".join(p.name for p in self.parts)


@dataclass(**_AST)
class Literal:
    value: str | float | bool
    raw: str
    span: Span


@dataclass(**_AST)
class Aggregate:
    fn: str
    event: Ident
    prop: Ident | None
    where: Cond | None
    window: Duration | None
    span: Span


@dataclass(**_AST)
class RelativeTime:
    """`7d ago` (sign -1) or `7d from now` (sign +1); `now` has no duration."""

    duration: Duration | None
    sign: int
    span: Span


Value = Path | Literal | Aggregate | RelativeTime


@dataclass(**_AST)
class Or:
    items: tuple[Cond, ...]
    span: Span


@dataclass(**_AST)
class And:
    items: tuple[Cond, ...]
    span: Span


@dataclass(**_AST)
class Not:
    item: Cond
    span: Span


@dataclass(**_AST)
class SegmentRef:
    name: Ident
    span: Span


@dataclass(**_AST)
class Compare:
    left: Value
    op: str
    right: Value
    span: Span


@dataclass(**_AST)
class InList:
    value: Value
    items: tuple[Literal, ...]
    span: Span


@dataclass(**_AST)
class IsSet:
    value: Value
    negated: bool
    span: Span


@dataclass(**_AST)
class Truthy:
    value: Value
    span: Span


Cond = Or | And | Not | SegmentRef | Compare | InList | IsSet | Truthy


# ------------------------------------------------------------------ schema, segments, frameworks
@dataclass(**_AST)
class Field:
    name: Ident
    type_name: Ident
    members: tuple[Ident, ...]  # enum members; empty for other types
    span: Span


@dataclass(**_AST)
class EventSchema:
    name: Ident
    fields: tuple[Field, ...]
    span: Span


@dataclass(**_AST)
class CustomerSchema:
    fields: tuple[Field, ...]
    span: Span


@dataclass(**_AST)
class Schema:
    entries: tuple[CustomerSchema | EventSchema, ...]
    span: Span


@dataclass(**_AST)
class SegmentDecl:
    name: Ident
    title: Text | None
    cond: Cond
    span: Span


@dataclass(**_AST)
class FrameworkDecl:
    name: Ident
    title: Text | None
    stages: tuple[Ident, ...]
    span: Span


# ------------------------------------------------------------------ policies
@dataclass(**_AST)
class QuietHours:
    channel: Ident | None
    start: Clock
    end: Clock
    span: Span


@dataclass(**_AST)
class DayRange:
    first: Ident
    last: Ident | None
    span: Span


@dataclass(**_AST)
class SendWindow:
    channel: Ident | None
    days: tuple[DayRange, ...]
    start: Clock
    end: Clock
    span: Span


@dataclass(**_AST)
class Cap:
    channel: Ident
    count: Literal
    per: Duration
    action: Ident | None
    span: Span


@dataclass(**_AST)
class Consent:
    channel: Ident
    cond: Cond
    span: Span


@dataclass(**_AST)
class RateLimit:
    target: Ident
    count: Literal
    per: Duration
    span: Span


@dataclass(**_AST)
class Timezone:
    zone: Text
    span: Span


Policy = QuietHours | SendWindow | Cap | Consent | RateLimit | Timezone


@dataclass(**_AST)
class Defaults:
    policies: tuple[Policy, ...]
    span: Span


# ------------------------------------------------------------------ playbook settings
@dataclass(**_AST)
class FrameworkRef:
    name: Ident
    span: Span


@dataclass(**_AST)
class Touch:
    level: Ident
    span: Span


@dataclass(**_AST)
class Owner:
    owner: Text
    span: Span


@dataclass(**_AST)
class EventTrigger:
    event: Ident
    where: Cond | None
    span: Span


@dataclass(**_AST)
class SegmentTrigger:
    segment: Ident
    current: bool  # `when in segment`: also whoever is in it when the playbook starts
    span: Span


@dataclass(**_AST)
class EveryTrigger:
    day: Ident
    at: Clock
    zone: Text | None
    span: Span


@dataclass(**_AST)
class CronTrigger:
    expr: Text
    zone: Text | None
    span: Span


@dataclass(**_AST)
class ApiTrigger:
    span: Span


Trigger = EventTrigger | SegmentTrigger | EveryTrigger | CronTrigger | ApiTrigger


@dataclass(**_AST)
class Entry:
    trigger: Trigger
    span: Span


@dataclass(**_AST)
class Audience:
    cond: Cond
    span: Span


@dataclass(**_AST)
class Reenter:
    after: Duration | None  # None: never
    span: Span


@dataclass(**_AST)
class ExitEvent:
    event: Ident
    where: Cond | None
    span: Span


@dataclass(**_AST)
class ExitSegment:
    segment: Ident
    span: Span


@dataclass(**_AST)
class Goal:
    name: Ident
    event: Ident
    where: Cond | None
    within: Duration
    span: Span


@dataclass(**_AST)
class Mapping:
    old: Ident
    new: Ident
    span: Span


@dataclass(**_AST)
class ChangePolicy:
    mode: str  # pin | drain | migrate
    mappings: tuple[Mapping, ...]
    span: Span


Setting = (
    FrameworkRef | Touch | Owner | Entry | Audience | Reenter | ExitEvent | ExitSegment
    | Goal | ChangePolicy
)


# ------------------------------------------------------------------ steps
@dataclass(**_AST)
class Send:
    channel: Ident
    template: Text | None
    inline: Text | None
    subject: Text | None
    via: Ident | None
    stage: Ident | None
    span: Span


@dataclass(**_AST)
class Task:
    title: Text
    queue: Text | None
    stage: Ident | None
    span: Span


@dataclass(**_AST)
class Wait:
    duration: Duration
    span: Span


@dataclass(**_AST)
class WaitUntilTime:
    day: Ident | None
    at: Clock
    span: Span


@dataclass(**_AST)
class WaitUntilAttr:
    path: Path
    sign: int
    offset: Duration | None
    span: Span


@dataclass(**_AST)
class WaitEvent:
    event: Ident
    where: Cond | None
    bind: Ident | None
    timeout: Duration | None
    otherwise: Ident | None
    span: Span


@dataclass(**_AST)
class Arm:
    cond: Cond
    target: Ident
    span: Span


@dataclass(**_AST)
class Branch:
    arms: tuple[Arm, ...]
    otherwise: Ident | None
    span: Span


@dataclass(**_AST)
class SplitArm:
    percent: Literal
    target: Ident
    span: Span


@dataclass(**_AST)
class Split:
    name: Ident | None
    arms: tuple[SplitArm, ...]
    holdout: Literal | None
    span: Span


@dataclass(**_AST)
class Assignment:
    name: Ident
    value: Value
    span: Span


@dataclass(**_AST)
class Update:
    assignments: tuple[Assignment, ...]
    span: Span


@dataclass(**_AST)
class Goto:
    target: Ident
    span: Span


@dataclass(**_AST)
class End:
    span: Span


Step = (
    Send | Task | Wait | WaitUntilTime | WaitUntilAttr | WaitEvent | Branch | Split | Update
    | Goto | End
)


@dataclass(**_AST)
class StepItem:
    label: Ident | None
    step: Step
    span: Span


Member = Setting | Policy | StepItem


@dataclass(**_AST)
class Playbook:
    name: Ident
    title: Text | None
    members: tuple[Member, ...]
    span: Span


# ------------------------------------------------------------------ playbook tests
@dataclass(**_AST)
class Pair:
    name: Ident
    value: Literal
    span: Span


@dataclass(**_AST)
class TestPlaybook:
    name: Ident
    span: Span


@dataclass(**_AST)
class TestCustomer:
    pairs: tuple[Pair, ...]
    span: Span


@dataclass(**_AST)
class TestStart:
    at: Literal
    span: Span


@dataclass(**_AST)
class TestEvent:
    event: Ident
    at: Literal
    pairs: tuple[Pair, ...]
    span: Span


@dataclass(**_AST)
class TestExpect:
    channel: Ident | None  # None: expect nothing
    template: Text | None
    at: Literal | None
    span: Span


@dataclass(**_AST)
class TestUntil:
    at: Literal
    span: Span


TestLine = TestPlaybook | TestCustomer | TestStart | TestEvent | TestExpect | TestUntil


@dataclass(**_AST)
class TestDecl:
    name: Text
    lines: tuple[TestLine, ...]
    span: Span


Item = Schema | SegmentDecl | FrameworkDecl | Defaults | Playbook | TestDecl


@dataclass(**_AST)
class Comment:
    text: str
    line: int
    col: int


@dataclass(**_AST)
class Document:
    file: str
    items: tuple[Item, ...]
    comments: tuple[Comment, ...]
