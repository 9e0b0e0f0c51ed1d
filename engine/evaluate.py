"""Conditions evaluated in Python: the runtime's evaluator and the reference for the SQL side.

The runtime evaluates conditions that need the event it holds (`event.x`, bound events) with
`evaluate`; leaves it may compute in SQL first (segment membership, aggregates) come through the
`Env` callables. `reference_env` computes those leaves by scanning a Python list of events: the
obviously-correct side that `cadenza.engine.segments` is tested against.

Three-valued logic, exactly as SQL has it, so both sides agree:
- A missing attribute or property and a JSON null are `None`, "unknown". A comparison or `in`
  with an unknown side is unknown (`x in []` is false, whatever x).
- `not` unknown is unknown. `and` is false if any part is false, else unknown if any part is
  unknown, else true; `or` is true if any part is true, else unknown if any is, else false.
- `is set` / `is not set` and segment membership are never unknown: a customer is in a segment
  when its condition is true, so `not segment X` holds when X's condition is false or unknown.
- `evaluate` is true only when the condition is true (`truth` gives the three values).

Aggregates see the customer's events with `ts <= now` (and `ts >= now - window`); judged for
an event (a trigger's `where`, an exit, a goal), the events after it in the same second are not
seen yet: as if each event were handled alone, in the order it was stored. `count` of
nothing is 0, `sum/avg/min/max/first/last` of nothing are `None`. Stored values are expected to
conform to the schema (the event API coerces or drops what does not); an ordering comparison
of values of different types that slipped through is unknown, never an exception.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from cadenza.playbooks.model import (
    Agg,
    AllOf,
    AnyOf,
    Cmp,
    Cond,
    Const,
    InSegment,
    Negation,
    OneOf,
    Present,
    Ref,
    Rel,
    Segment,
    Truth,
    Value,
)
from cadenza.playbooks.schema import BUILTIN_CUSTOMER

__all__ = ["Env", "EventRecord", "customer_fields", "evaluate", "reference_aggregate",
           "reference_env", "truth"]

Truth3 = bool | None
AggValue = float | int | None
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge,
}


def _no_segments(name: str) -> bool | None:
    raise ValueError(f"this Env cannot tell segment membership ('segment {name}'); "
                     "give it an in_segment callable.")


def _no_aggregates(agg: Agg) -> AggValue:
    raise ValueError(f"this Env cannot compute {agg.fn}({agg.event}); "
                     "give it an aggregate callable.")


@dataclass(frozen=True, slots=True)
class Env:
    """What a condition can see: the customer, the events in scope, `now`, and two oracles."""

    customer: Mapping[str, Any]  # columns (id, email, phone, timezone) and attributes
    now: int
    event: Mapping[str, Any] | None = None  # the trigger event's properties (or aggregated one)
    bound: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    in_segment: Callable[[str], bool | None] = _no_segments
    aggregate: Callable[[Agg], AggValue] = _no_aggregates


@dataclass(frozen=True)
class EventRecord:
    """One of a customer's events, as the reference scans them."""

    name: str
    ts: int
    properties: Mapping[str, Any]
    id: int = 0  # the stored event's id: orders events of the same second


def evaluate(cond: Cond, env: Env) -> bool:
    """True only when `cond` is true (false and unknown are both "no")."""
    return truth(cond, env) is True


def truth(cond: Cond, env: Env) -> Truth3:
    """`cond` in three-valued logic: True, False, or None for unknown."""
    match cond:
        case AllOf():
            return _and(truth(i, env) for i in cond.items)
        case AnyOf():
            return _or(truth(i, env) for i in cond.items)
        case Negation():
            inner = truth(cond.item, env)
            return None if inner is None else not inner
        case InSegment():
            return env.in_segment(cond.name)
        case Cmp():
            return _compare(cond.op, _value(cond.left, env), _value(cond.right, env))
        case OneOf():
            return _one_of(_value(cond.value, env), cond.items)
        case Present():
            present = _value(cond.value, env) is not None
            return not present if cond.negated else present
        case Truth():
            value = _value(cond.value, env)
            return None if value is None else bool(value)


def _and(parts: Iterable[Truth3]) -> Truth3:
    unknown = False
    for part in parts:
        if part is False:
            return False
        unknown = unknown or part is None
    return None if unknown else True


def _or(parts: Iterable[Truth3]) -> Truth3:
    unknown = False
    for part in parts:
        if part is True:
            return True
        unknown = unknown or part is None
    return None if unknown else False


def _compare(op: str, left: Any, right: Any) -> Truth3:
    if left is None or right is None:
        return None
    try:
        return _OPS[op](left, right)
    except TypeError:
        # A value of the wrong type (a `when api` property is unchecked; old rows may predate
        # a schema change) is unknown, like a missing one: raising here stopped every tick
        # on the one bad row, for every customer.
        return None


def _one_of(value: Any, items: tuple[Const, ...]) -> Truth3:
    if not items:
        return False
    if value is None:
        return None
    return any(value == item.value for item in items)


def _value(value: Value, env: Env) -> Any:
    match value:
        case Const():
            return value.value
        case Rel():
            return env.now + value.offset_s
        case Agg():
            return env.aggregate(value)
        case Ref():
            return _ref(value, env)


def _ref(ref: Ref, env: Env) -> Any:
    match ref.scope:
        case "customer":
            return env.customer.get(ref.name)
        case "event" if env.event is not None:
            return env.event.get(ref.name)
        case "event":
            raise ValueError(f"'event.{ref.name}' is used where no event is in scope.")
        case "bound":
            return env.bound.get(ref.var, {}).get(ref.name)
        case _:
            raise ValueError(f"'{ref.scope}.{ref.name}' cannot be used in a condition.")


# ------------------------------------------------------------------ the reference
def customer_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """A customer row ({id, email, ..., attributes: {...}}) as one dict; columns win."""
    attributes: Mapping[str, Any] = row.get("attributes") or {}
    columns = {k: row[k] for k in BUILTIN_CUSTOMER if k in row}
    return {**attributes, **columns}


def reference_aggregate(agg: Agg, events: Iterable[EventRecord], now: int, *,
                        env: Env | None = None) -> AggValue:
    """`agg` over one customer's `events` by scanning them; `env` serves the `where` clause."""
    base = env if env is not None else Env(customer={}, now=now)
    picked = [e for e in events if _counts(agg, e, now, base)]
    match agg.fn:
        case "count":
            return len(picked)
        case "first":
            return min((e.ts for e in picked), default=None)
        case "last":
            return max((e.ts for e in picked), default=None)
        case _:
            return _numeric(agg, picked)


def _counts(agg: Agg, event: EventRecord, now: int, env: Env) -> bool:
    if event.name != agg.event or event.ts > now:
        return False
    if agg.window_s is not None and event.ts < now - agg.window_s:
        return False
    # Inside `where`, `event.x` is the aggregated event's property.
    return agg.where is None or evaluate(agg.where, replace(env, event=event.properties))


def _numeric(agg: Agg, picked: list[EventRecord]) -> AggValue:
    values = [float(v) for e in picked if (v := e.properties.get(agg.prop or "")) is not None]
    if not values:
        return None  # SQL: an aggregate of no values is NULL
    match agg.fn:
        case "sum":
            return sum(values)
        case "avg":
            return sum(values) / len(values)
        case "min":
            return min(values)
        case _:
            return max(values)


def reference_env(customer_row: Mapping[str, Any], events: Iterable[EventRecord], now: int,
                  segments: Mapping[str, Segment]) -> Env:
    """An Env that computes segments and aggregates from the customer's own `events`."""
    history = list(events)

    def in_segment(name: str) -> bool:
        segment = segments.get(name)
        if segment is None:
            raise ValueError(f"unknown segment '{name}'.")
        return evaluate(segment.cond, env)  # `env` has no event: segments never see one

    def aggregate(agg: Agg) -> AggValue:
        return reference_aggregate(agg, history, now, env=env)

    env = Env(customer=customer_fields(customer_row), now=now, in_segment=in_segment,
              aggregate=aggregate)
    return env
