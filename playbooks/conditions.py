"""Conditions and values: names resolved against the schema, types checked.

A value's type is an `AttrType` (or None once an error was reported, so one mistake is not
reported again by every comparison that uses it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cadenza.grammar import ast
from cadenza.grammar.diagnostics import did_you_mean
from cadenza.playbooks import model as m
from cadenza.playbooks.durations import check_bounded
from cadenza.playbooks.report import Reporter
from cadenza.playbooks.schema import BOOL, NUMBER, STRING, TIMESTAMP

ORDERED = frozenset({"number", "timestamp"})


@dataclass(frozen=True)
class Scope:
    """What names mean where a condition stands."""

    schema: m.Schema
    segments: frozenset[str]
    file: str
    event_props: dict[str, m.AttrType] | None = None  # `event.x`; None: no event in scope
    event_hint: str = "event.x is only available where an event is in scope."
    bound: dict[str, dict[str, m.AttrType]] = field(default_factory=dict)
    # The event itself is unknown (already reported): its properties are not checked again.
    lenient_event: bool = False
    # Trigger-event properties some entry does not carry (templates: E038 without a default).
    event_gaps: Mapping[str, str] = field(default_factory=dict)

    def with_event(self, props: dict[str, m.AttrType] | None) -> Scope:
        return Scope(schema=self.schema, segments=self.segments, file=self.file,
                     event_props=props or {}, bound=self.bound, lenient_event=props is None)


Typed = tuple[m.Value, m.AttrType | None]


def compile_cond(c: ast.Cond, scope: Scope, rep: Reporter) -> m.Cond:
    match c:
        case ast.Or():
            return m.AnyOf(items=tuple(compile_cond(i, scope, rep) for i in c.items))
        case ast.And():
            return m.AllOf(items=tuple(compile_cond(i, scope, rep) for i in c.items))
        case ast.Not():
            return m.Negation(item=compile_cond(c.item, scope, rep))
        case ast.SegmentRef():
            check_segment(c.name, scope, rep)
            return m.InSegment(name=c.name.name)
        case ast.Compare():
            return _compare(c, scope, rep)
        case ast.InList():
            return _in_list(c, scope, rep)
        case ast.IsSet():
            value, _ = compile_value(c.value, scope, rep)
            return m.Present(value=value, negated=c.negated)
        case ast.Truthy():
            value, t = compile_value(c.value, scope, rep)
            if t is not None and t.type != "bool":
                rep.error("E020", scope.file, c.span,
                          f"'{_text(c.value)}' is a {t}, not a bool, so it cannot stand alone "
                          "as a condition.",
                          hint=f"compare it, e.g. '{_text(c.value)} is set' or "
                               f"'{_text(c.value)} == ...'.")
            return m.Truth(value=value)


def check_segment(name: ast.Ident, scope: Scope, rep: Reporter) -> None:
    if name.name not in scope.segments:
        rep.error("E011", scope.file, name.span,
                  f"unknown segment '{name.name}'{did_you_mean(name.name, scope.segments)}",
                  hint="declare it with: segment NAME = CONDITION")


def _compare(c: ast.Compare, scope: Scope, rep: Reporter) -> m.Cmp:
    left, lt = compile_value(c.left, scope, rep)
    right, rt = compile_value(c.right, scope, rep)
    if lt is not None and rt is not None:
        _check_comparable(c, lt, rt, left, right, scope, rep)
    return m.Cmp(op=c.op, left=left, right=right)


def _check_comparable(c: ast.Compare, lt: m.AttrType, rt: m.AttrType, left: m.Value,
                      right: m.Value, scope: Scope, rep: Reporter) -> None:
    if lt.type == "enum" or rt.type == "enum":
        enum_t, other, other_ast = (lt, right, c.right) if lt.type == "enum" else (rt, left, c.left)
        _check_enum_member(enum_t, other, other_ast, scope, rep)
        if c.op not in ("==", "!="):
            rep.error("E020", scope.file, c.span,
                      f"'{c.op}' cannot order enum values; use == or != (or 'in [...]').",
                      hint=f"enum members have no order: list the ones you mean, as in "
                           f"'{_text(c.left)} in [...]'.")
        return
    if lt.type != rt.type:
        rep.error("E020", scope.file, c.span,
                  f"cannot compare '{_text(c.left)}' ({lt}) with '{_text(c.right)}' ({rt}).",
                  hint=f"compare a {lt} with a {lt}.")
        return
    if c.op not in ("==", "!=") and lt.type not in ORDERED:
        rep.error("E020", scope.file, c.span,
                  f"'{c.op}' needs numbers or timestamps, but '{_text(c.left)}' is a {lt}.",
                  hint="use == or != for strings and bools.")


def _check_enum_member(t: m.AttrType, value: m.Value, node: ast.Value, scope: Scope,
                       rep: Reporter) -> None:
    if isinstance(value, m.Const) and isinstance(value.value, str) and \
            value.value not in t.members:
        rep.error("E021", scope.file, node.span,
                  f"'{value.value}' is not one of {t}{did_you_mean(value.value, t.members)}",
                  hint=f"choose one of: {', '.join(t.members)}.")


def _in_list(c: ast.InList, scope: Scope, rep: Reporter) -> m.OneOf:
    value, t = compile_value(c.value, scope, rep)
    items: list[m.Const] = []
    for lit in c.items:
        const, lit_t = _literal(lit)
        items.append(const)
        if t is None:
            continue
        if t.type == "enum":
            _check_enum_member(t, const, lit, scope, rep)
        elif lit_t.type != t.type:
            rep.error("E020", scope.file, lit.span,
                      f"the list item {lit.raw} is a {lit_t}, but '{_text(c.value)}' is a {t}.",
                      hint=f"every item of the list must be a {t}.")
    return m.OneOf(value=value, items=tuple(items))


def _literal(lit: ast.Literal) -> tuple[m.Const, m.AttrType]:
    v = lit.value
    t = BOOL if isinstance(v, bool) else STRING if isinstance(v, str) else NUMBER
    return m.Const(value=v), t


def compile_value(v: ast.Value, scope: Scope, rep: Reporter) -> Typed:
    match v:
        case ast.Literal():
            return _literal(v)
        case ast.RelativeTime():
            check_bounded(v.duration, scope.file, rep)
            offset = 0 if v.duration is None else v.sign * v.duration.seconds
            return m.Rel(offset_s=offset), TIMESTAMP
        case ast.Aggregate():
            return _aggregate(v, scope, rep)
        case ast.Path():
            return resolve_path(v, scope, rep)


def resolve_path(p: ast.Path, scope: Scope, rep: Reporter) -> Typed:
    names = [i.name for i in p.parts]
    placeholder = m.Ref(scope="customer", name=p.dotted)
    if len(names) == 1 or (len(names) == 2 and names[0] == "customer"):
        return _customer_ref(p, names[-1], scope, rep)
    if len(names) == 2 and names[0] == "event":
        return _event_ref(p, names[1], scope, rep)
    if len(names) == 2 and names[0] in scope.bound:
        props = scope.bound[names[0]]
        return _prop_ref(p, names[1], props, m.Ref(scope="bound", var=names[0], name=names[1]),
                         f"event bound as '{names[0]}'", scope, rep)
    known = ["customer", "event", *scope.bound]
    rep.error("E015", scope.file, p.span,
              f"unknown name '{p.dotted}'{did_you_mean(names[0], known)}",
              hint="use an attribute ('plan' or 'customer.plan'), 'event.PROPERTY', "
                   "or 'NAME.PROPERTY' for an event bound with 'wait for event ... as NAME'.")
    return placeholder, None


def _customer_ref(p: ast.Path, name: str, scope: Scope, rep: Reporter) -> Typed:
    ref = m.Ref(scope="customer", name=name)
    t = scope.schema.customer.get(name)
    if t is None:
        day = name.lower() in _DAY_WORDS  # `wait until monday` with the time forgotten
        rep.error("E015", scope.file, p.parts[-1].span,
                  f"unknown customer attribute '{name}'"
                  f"{did_you_mean(name, scope.schema.customer)}",
                  hint=(f"'{name}' is a day, not an attribute: a day needs a time after it, as "
                        f"in 'wait until {name} 09:00'." if day else
                        "declare it in: schema { customer { NAME: TYPE } }"))
    return ref, t


_DAY_WORDS = frozenset({"monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                        "sunday", "mon", "tue", "wed", "thu", "fri", "sat", "sun", "weekdays",
                        "weekends", "weekend", "weekday"})


def _event_ref(p: ast.Path, name: str, scope: Scope, rep: Reporter) -> Typed:
    ref = m.Ref(scope="event", name=name)
    if scope.lenient_event:
        return ref, None
    if scope.event_props is None:
        rep.error("E015", scope.file, p.span, f"'{p.dotted}' has no event to refer to here.",
                  hint=scope.event_hint)
        return ref, None
    return _prop_ref(p, name, scope.event_props, ref, "the event", scope, rep)


def _prop_ref(p: ast.Path, name: str, props: dict[str, m.AttrType], ref: m.Ref, what: str,
              scope: Scope, rep: Reporter) -> Typed:
    t = props.get(name)
    if t is None:
        rep.error("E015", scope.file, p.parts[-1].span,
                  f"unknown property '{name}' of {what}{did_you_mean(name, props)}",
                  hint="declare it in the event's schema: event NAME { PROPERTY: TYPE }")
    return ref, t


def check_event(name: ast.Ident, scope: Scope, rep: Reporter) -> dict[str, m.AttrType] | None:
    props = scope.schema.events.get(name.name)
    if props is None:
        rep.error("E014", scope.file, name.span,
                  f"unknown event '{name.name}'{did_you_mean(name.name, scope.schema.events)}",
                  hint="declare it in: schema { event NAME { PROPERTY: TYPE } }")
    return props


def _aggregate(a: ast.Aggregate, scope: Scope, rep: Reporter) -> Typed:
    props = check_event(a.event, scope, rep)
    where = None
    if a.where is not None:
        where = compile_cond(a.where, scope.with_event(props), rep)
    check_bounded(a.window, scope.file, rep)
    window = None if a.window is None else a.window.seconds
    value = m.Agg(fn=a.fn, event=a.event.name, prop=None if a.prop is None else a.prop.name,
                  where=where, window_s=window)
    return value, _aggregate_type(a, props, scope, rep)


def _aggregate_type(a: ast.Aggregate, props: dict[str, m.AttrType] | None, scope: Scope,
                    rep: Reporter) -> m.AttrType | None:
    if a.fn in ("count", "first", "last"):
        if a.prop is not None:
            rep.error("E020", scope.file, a.prop.span,
                      f"{a.fn}() takes an event, not a property: write "
                      f"'{a.fn}({a.event.name} ...)'.",
                      hint="sum, avg, min and max take a property; count, first and last an "
                           "event.")
        return NUMBER if a.fn == "count" else TIMESTAMP
    if a.prop is None:
        rep.error("E020", scope.file, a.span,
                  f"{a.fn}() needs a number property: write '{a.fn}({a.event.name}.PROPERTY)'.",
                  hint=f"to count the events instead, write 'count({a.event.name} ...)'.")
        return NUMBER
    if props is None:
        return NUMBER
    t = props.get(a.prop.name)
    if t is None:
        rep.error("E015", scope.file, a.prop.span,
                  f"unknown property '{a.prop.name}' of event '{a.event.name}'"
                  f"{did_you_mean(a.prop.name, props)}",
                  hint=f"'{a.event.name}' declares: {', '.join(sorted(props)) or 'nothing'}; "
                       f"declare the property in the schema's event block.")
    elif t.type != "number":
        rep.error("E020", scope.file, a.prop.span,
                  f"{a.fn}() needs a number property, but '{a.prop.name}' is a {t}.",
                  hint=f"pick a number property, or count the events: "
                       f"'count({a.event.name} ...)'.")
    return NUMBER




def _text(v: ast.Value) -> str:
    match v:
        case ast.Path():
            return v.dotted
        case ast.Literal():
            return v.raw
        case ast.Aggregate():
            return f"{v.fn}({v.event.name}{'.' + v.prop.name if v.prop else ''})"
        case ast.RelativeTime():
            if v.duration is None:
                return "now"
            return f"{v.duration.text} {'ago' if v.sign < 0 else 'from now'}"
