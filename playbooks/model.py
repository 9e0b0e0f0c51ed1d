"""The validated graph: frozen pydantic models, built once by the compiler and never changed.

Every model is keyword-only, frozen and rejects unknown fields. Positions live apart from
meaning: a playbook's `locations` maps step ids to file:line:col, and `semantic()` dumps the
graph without them, so two graphs that mean the same compare equal however they were laid out.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Location(Frozen):
    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


# ------------------------------------------------------------------ values
class Ref(Frozen):
    """An attribute: of the customer, of the trigger event, or of an event bound by a wait."""

    kind: Literal["ref"] = "ref"
    scope: Literal["customer", "event", "bound", "playbook"]
    var: str = ""  # the bound name for scope "bound"
    name: str


class Const(Frozen):
    kind: Literal["const"] = "const"
    value: str | float | bool


class Agg(Frozen):
    """An aggregate over a customer's events, optionally filtered and windowed."""

    kind: Literal["agg"] = "agg"
    fn: Literal["count", "sum", "avg", "min", "max", "first", "last"]
    event: str
    prop: str | None = None
    where: Cond | None = None
    window_s: int | None = None


class Rel(Frozen):
    """`now` shifted by `offset_s` seconds (negative for `ago`)."""

    kind: Literal["rel"] = "rel"
    offset_s: int = 0


Value = Annotated[Ref | Const | Agg | Rel, Field(discriminator="kind")]


# ------------------------------------------------------------------ conditions
class AllOf(Frozen):
    kind: Literal["and"] = "and"
    items: tuple[Cond, ...]


class AnyOf(Frozen):
    kind: Literal["or"] = "or"
    items: tuple[Cond, ...]


class Negation(Frozen):
    kind: Literal["not"] = "not"
    item: Cond


class InSegment(Frozen):
    kind: Literal["segment"] = "segment"
    name: str


class Cmp(Frozen):
    kind: Literal["cmp"] = "cmp"
    op: Literal["==", "!=", "<", "<=", ">", ">="]
    left: Value
    right: Value


class OneOf(Frozen):
    kind: Literal["in"] = "in"
    value: Value
    items: tuple[Const, ...]


class Present(Frozen):
    kind: Literal["set"] = "set"
    value: Value
    negated: bool = False


class Truth(Frozen):
    kind: Literal["truthy"] = "truthy"
    value: Value


Cond = Annotated[
    AllOf | AnyOf | Negation | InSegment | Cmp | OneOf | Present | Truth,
    Field(discriminator="kind"),
]


# ------------------------------------------------------------------ schema
AttrKind = Literal["string", "number", "bool", "timestamp", "enum"]


class AttrType(Frozen):
    type: AttrKind
    members: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.type == "enum":
            return f"enum({', '.join(self.members)})"
        return self.type


class Schema(Frozen):
    customer: dict[str, AttrType]
    events: dict[str, dict[str, AttrType]]


class Segment(Frozen):
    name: str
    title: str = ""
    cond: Cond
    location: Location


class Framework(Frozen):
    name: str
    title: str = ""
    stages: tuple[str, ...]


# ------------------------------------------------------------------ policies
class QuietHours(Frozen):
    channel: str | None = None  # None: every channel
    start_min: int
    end_min: int


class SendWindow(Frozen):
    channel: str | None = None
    days: tuple[int, ...]  # 0 = Monday
    start_min: int
    end_min: int


class Cap(Frozen):
    channel: str
    count: int
    per_s: int
    action: Literal["defer", "skip"] = "defer"


class ConsentRule(Frozen):
    channel: str
    cond: Cond


class RateLimit(Frozen):
    target: str
    count: int
    per_s: int


class Policies(Frozen):
    quiet_hours: tuple[QuietHours, ...] = ()
    windows: tuple[SendWindow, ...] = ()
    caps: tuple[Cap, ...] = ()
    consent: tuple[ConsentRule, ...] = ()
    rate_limits: tuple[RateLimit, ...] = ()
    timezone: str | None = None


# ------------------------------------------------------------------ entries, exits, goals
class EventEntry(Frozen):
    kind: Literal["event"] = "event"
    event: str
    where: Cond | None = None


class SegmentEntry(Frozen):
    kind: Literal["segment"] = "segment"
    segment: str
    # `when in segment`: the members when the playbook starts enter too, not only those
    # who join later (`when enters segment`).
    current: bool = False


class ScheduleEntry(Frozen):
    kind: Literal["schedule"] = "schedule"
    cron: str  # five crontab fields, in `zone`
    zone: str
    text: str  # as written: "every monday at 09:00"


class ApiEntry(Frozen):
    kind: Literal["api"] = "api"


EntryRule = Annotated[
    EventEntry | SegmentEntry | ScheduleEntry | ApiEntry, Field(discriminator="kind")
]


class EventExit(Frozen):
    kind: Literal["event"] = "event"
    event: str
    where: Cond | None = None


class SegmentExit(Frozen):
    kind: Literal["segment"] = "segment"
    segment: str


ExitRule = Annotated[EventExit | SegmentExit, Field(discriminator="kind")]


class Goal(Frozen):
    name: str
    event: str
    where: Cond | None = None
    within_s: int


class ChangePolicy(Frozen):
    mode: Literal["pin", "drain", "migrate"] = "pin"
    mapping: dict[str, str] = Field(default_factory=dict)


# ------------------------------------------------------------------ steps
class StepBase(Frozen):
    id: str
    next: str | None = None  # the step control falls through to; None is the end


class SendStep(StepBase):
    kind: Literal["send"] = "send"
    channel: str
    template: str | None = None
    text: str | None = None
    subject: str | None = None
    via: str | None = None
    stage: str | None = None


class TaskStep(StepBase):
    kind: Literal["task"] = "task"
    title: str
    queue: str | None = None
    stage: str | None = None


class WaitStep(StepBase):
    kind: Literal["wait"] = "wait"
    seconds: int


class WaitUntilTimeStep(StepBase):
    kind: Literal["wait_until_time"] = "wait_until_time"
    days: tuple[int, ...]  # allowed weekdays, 0 = Monday
    minutes: int


class WaitUntilAttrStep(StepBase):
    kind: Literal["wait_until_attr"] = "wait_until_attr"
    attribute: str
    offset_s: int = 0


class WaitEventStep(StepBase):
    kind: Literal["wait_event"] = "wait_event"
    event: str
    where: Cond | None = None
    bind: str | None = None
    timeout_s: int
    on_timeout: str | None = None  # None: continue with `next`


class BranchArm(Frozen):
    cond: Cond
    target: str


class BranchStep(StepBase):
    kind: Literal["branch"] = "branch"
    arms: tuple[BranchArm, ...]
    otherwise: str | None = None  # None: continue with `next`


class SplitArm(Frozen):
    percent: float
    target: str


class SplitStep(StepBase):
    kind: Literal["split"] = "split"
    name: str
    arms: tuple[SplitArm, ...]
    holdout: float = 0.0


class Assign(Frozen):
    attribute: str
    value: Value


class UpdateStep(StepBase):
    kind: Literal["update"] = "update"
    assignments: tuple[Assign, ...]


class GotoStep(StepBase):
    kind: Literal["goto"] = "goto"
    target: str


class EndStep(StepBase):
    kind: Literal["end"] = "end"


Step = Annotated[
    SendStep | TaskStep | WaitStep | WaitUntilTimeStep | WaitUntilAttrStep | WaitEventStep
    | BranchStep | SplitStep | UpdateStep | GotoStep | EndStep,
    Field(discriminator="kind"),
]

WAIT_KINDS = frozenset({"wait", "wait_until_time", "wait_until_attr", "wait_event"})


def successors(step: Step) -> tuple[str | None, ...]:
    """Where control can go after `step`; None stands for the end of the playbook."""
    match step:
        case GotoStep():
            return (step.target,)
        case EndStep():
            return (None,)
        case BranchStep():
            last = step.otherwise if step.otherwise is not None else step.next
            return (*(a.target for a in step.arms), last)
        case SplitStep():
            holdout = (None,) if step.holdout > 0 else ()
            return (*(a.target for a in step.arms), *holdout)
        case WaitEventStep():
            timeout = step.on_timeout if step.on_timeout is not None else step.next
            return (step.next, timeout) if timeout != step.next else (step.next,)
        case _:
            return (step.next,)


class Positions(Frozen):
    """Where a playbook's header, entries, exits and own policies are written.

    Only diagnostics that relate two playbooks need these; like `locations`, they are left out
    of `semantic()`. `policies` is keyed "Cap:email", "QuietHours:sms", "QuietHours:*" (every
    channel); a policy inherited from `defaults` has no key here.
    """

    header: Location | None = None
    entries: tuple[Location, ...] = ()  # parallel to Playbook.entries
    exits: tuple[Location, ...] = ()  # parallel to Playbook.exits
    policies: dict[str, Location] = Field(default_factory=dict)


class Playbook(Frozen):
    name: str
    title: str = ""
    framework: str | None = None
    touch: Literal["high", "low", "none"] | None = None
    owner: str = ""
    entries: tuple[EntryRule, ...]
    audience: Cond | None = None
    reenter_after_s: int | None = None  # None: a customer enters once
    exits: tuple[ExitRule, ...] = ()
    goals: tuple[Goal, ...] = ()
    policies: Policies = Policies()
    change: ChangePolicy = ChangePolicy()
    start: str | None
    steps: tuple[Step, ...]
    file: str
    locations: dict[str, Location] = Field(default_factory=dict)
    positions: Positions = Positions()

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(f"playbook '{self.name}' has no step '{step_id}'")

    def semantic(self) -> dict[str, Any]:
        """The graph without positions: equal for playbooks that mean the same."""
        return self.model_dump(exclude={"file", "locations", "positions"})


# ------------------------------------------------------------------ templates and tests
class Template(Frozen):
    name: str
    file: str
    subject: str | None = None
    body: str
    body_line: int = 1  # line of the body's first line in `file`


class TestEvent(Frozen):
    event: str
    at: datetime
    properties: dict[str, str | float | bool]


class Expectation(Frozen):
    channel: str
    template: str | None = None
    at: datetime | None = None


class PlaybookTest(Frozen):
    name: str
    playbook: str
    customer: dict[str, str | float | bool]
    start: datetime | None = None
    events: tuple[TestEvent, ...] = ()
    expects: tuple[Expectation, ...] = ()
    until: datetime | None = None
    location: Location


class Project(Frozen):
    name: str
    root: str
    timezone: str
    schema_: Schema = Field(alias="schema")
    segments: dict[str, Segment]
    frameworks: dict[str, Framework]
    defaults: Policies
    playbooks: dict[str, Playbook]
    tests: tuple[PlaybookTest, ...]
    templates: dict[str, Template]

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


for _model in (Agg, AllOf, AnyOf, Negation, Cmp, OneOf, Present, Truth, Segment, ConsentRule,
               Policies, EventEntry, EventExit, Goal, WaitEventStep, BranchArm, BranchStep,
               Assign, UpdateStep, Playbook, Project):
    _model.model_rebuild()


N = TypeVar("N", bound=BaseModel)


def nodes_of(node: object, kind: type[N]) -> Iterator[N]:
    """Every `kind` inside a compiled value (models, tuples, lists, dicts), outermost first."""
    if isinstance(node, kind):
        yield node
    if isinstance(node, BaseModel):
        for value in node.__dict__.values():
            yield from nodes_of(value, kind)
    elif isinstance(node, tuple | list):
        for item in node:
            yield from nodes_of(item, kind)
    elif isinstance(node, dict):
        for item in node.values():
            yield from nodes_of(item, kind)
