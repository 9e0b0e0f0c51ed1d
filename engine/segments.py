"""Conditions compiled to SQL over the `customers` table, so the database finds who matches.

`cond_sql` turns a condition of the graph into one boolean SQL expression; `matching_ids` runs it
(never a Python loop over every customer). `cadenza.engine.evaluate` is the Python twin: both
follow the same rules, and the property tests hold them to it.

Semantics, the same on SQLite and PostgreSQL:
- Attribute values are read from the JSON `attributes` with the accessor of the type compared:
  a string or enum as text, a number or timestamp (epoch seconds) as a float, a bool as a boolean.
  The type comes from the `schema` when one is given, else from the other side of the comparison
  (a literal, `now`, an aggregate); two attributes compared with each other and no schema are
  read as numbers for `<`-like operators and as text for `==`/`!=` (pass the schema to compare
  two number or bool attributes for equality exactly). Stored values are expected to conform to
  the schema (the loader converts them); PostgreSQL refuses a non-numeric text cast to a number.
  JSON booleans come back as 1/0 on SQLite and as true/false on PostgreSQL: both compare and
  negate alike.
- `id`, `email`, `phone`, `timezone` are columns of `customers`, never read from `attributes`.
- A missing key and a JSON null are both NULL: unknown in comparisons (SQL's three-valued logic;
  `not unknown` is unknown), and "not set" for `is set` / `is not set`, which are never unknown.
- `segment X` is membership: true when X's condition is true, false otherwise (unknown counts as
  out), so `not segment X` includes customers whose X-condition is unknown. Segments are inlined
  recursively; the compiler guarantees they have no cycles.
- Aggregates are correlated scalar subqueries over the customer's events with `ts <= now` (events
  stamped after `now` have not happened yet, as a simulation on virtual time needs) and, with a
  window, `ts >= now - window`. Inside an aggregate's `where`, `event.x` is the aggregated event's
  property. `count` of nothing is 0; `sum/avg/min/max` of nothing (or only of events without the
  property) are NULL, as in SQL, so `sum(...) < 10` is unknown, not true, for a customer with no
  events; `first`/`last` are the earliest/latest `ts`, NULL without events.
- `event.x` outside an aggregate and bound events (`NAME.x`) need the event the runtime holds:
  they raise `ValueError` here and are evaluated in Python by `evaluate`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Connection,
    FromClause,
    Select,
    and_,
    bindparam,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.sql.elements import BinaryExpression

from cadenza.engine.schema import customers, events
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
    Schema,
    Segment,
    Truth,
    Value,
)
from cadenza.playbooks.schema import BUILTIN_CUSTOMER

__all__ = ["CHUNK", "aggregate_value", "cond_sql", "matching_ids", "segment_ids"]

# Ids per query when restricting to `among`: below SQLite's historical 999-variable limit,
# leaving room for the condition's own parameters.
CHUNK = 900

Kind = Literal["string", "number", "bool"]
_KIND_OF_TYPE: dict[str, Kind] = {"string": "string", "enum": "string", "number": "number",
                                  "timestamp": "number", "bool": "bool"}
_ORDERING = frozenset({"<", "<=", ">", ">="})
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge,
}


@dataclass(frozen=True)
class _Ctx:
    now: int | None  # None: the `now` bind parameter, given when the statement runs
    segments: Mapping[str, Segment]
    schema: Schema | None
    event: FromClause | None = None  # the events alias of the innermost aggregate
    event_name: str | None = None


def cond_sql(cond: Cond, *, now: int, segments: Mapping[str, Segment],
             schema: Schema | None = None) -> ColumnElement[bool]:
    """`cond` as a boolean SQL expression over `customers` (true, false or NULL for unknown)."""
    return _cond(cond, _Ctx(now=now, segments=segments, schema=schema))


def matching_ids(conn: Connection, cond: Cond, *, now: int, segments: Mapping[str, Segment],
                 among: Collection[str] | None = None,
                 schema: Schema | None = None) -> set[str]:
    """Ids of the customers for whom `cond` is true at `now`, optionally only those in `among`."""
    query = _matching(cond, segments, schema)
    at = {"now": now}
    if among is None:
        return set(conn.scalars(query, at))
    ids = sorted(set(among))
    found: set[str] = set()
    for start in range(0, len(ids), CHUNK):
        found.update(conn.scalars(query.where(customers.c.id.in_(ids[start:start + CHUNK])), at))
    return found


# A watched segment is evaluated every 15 minutes of the clock: building its statement (and
# SQLAlchemy's cache key for a new one) each time was a quarter of a segment-driven playbook
# test. Built once with `now` as a parameter; keyed by identity, the objects kept alive here.
_NOW = bindparam("now", type_=BigInteger)
_BUILT: dict[tuple[int, int, int], tuple[object, object, object, Select[tuple[str]]]] = {}


def _matching(cond: Cond, segments: Mapping[str, Segment],
              schema: Schema | None) -> Select[tuple[str]]:
    key = (id(cond), id(segments), id(schema))
    hit = _BUILT.get(key)
    if hit is not None and hit[0] is cond and hit[1] is segments and hit[2] is schema:
        return hit[3]
    query = select(customers.c.id).where(
        _cond(cond, _Ctx(now=None, segments=segments, schema=schema)))
    if len(_BUILT) >= 256:  # projects come and go in a long test run; a few are live
        _BUILT.clear()
    _BUILT[key] = (cond, segments, schema, query)
    return query


def _now(ctx: _Ctx, offset: int = 0) -> ColumnElement[Any]:
    if ctx.now is None:
        return _NOW + offset if offset else _NOW
    return literal(ctx.now + offset, BigInteger)


def segment_ids(conn: Connection, name: str, *, now: int, segments: Mapping[str, Segment],
                among: Collection[str] | None = None,
                schema: Schema | None = None) -> set[str]:
    """Ids of the members of segment `name` at `now`."""
    _segment(name, segments)
    return matching_ids(conn, InSegment(name=name), now=now, segments=segments, among=among,
                        schema=schema)


def aggregate_value(conn: Connection, agg: Agg, customer_id: str, *, now: int,
                    segments: Mapping[str, Segment],
                    schema: Schema | None = None) -> float | int | None:
    """One customer's aggregate at `now`, computed by the database (for `Env.aggregate`)."""
    sub = _agg(agg, _Ctx(now=now, segments=segments, schema=schema))
    row = conn.execute(select(sub).where(customers.c.id == customer_id)).first()
    if row is None:
        raise ValueError(f"there is no customer '{customer_id}' in the store.")
    value: float | int | None = row[0]
    return value


# ------------------------------------------------------------------ conditions
def _cond(cond: Cond, ctx: _Ctx) -> ColumnElement[bool]:
    match cond:
        case AllOf():
            return and_(*(_cond(i, ctx) for i in cond.items)) if cond.items else true()
        case AnyOf():
            return or_(*(_cond(i, ctx) for i in cond.items)) if cond.items else false()
        case Negation():
            return not_(_cond(cond.item, ctx))
        case InSegment():
            return _in_segment(cond.name, ctx)
        case Cmp():
            return _compare(cond, ctx)
        case OneOf():
            return _one_of(cond, ctx)
        case Present():
            value = _value(cond.value, _kind_of(cond.value, ctx) or "string", ctx)
            return value.is_(None) if cond.negated else value.is_not(None)
        case Truth():
            return _value(cond.value, "bool", ctx)


def _segment(name: str, segments: Mapping[str, Segment]) -> Segment:
    found = segments.get(name)
    if found is None:
        raise ValueError(f"unknown segment '{name}'; known: {', '.join(sorted(segments))}.")
    return found


def _in_segment(name: str, ctx: _Ctx) -> ColumnElement[bool]:
    # Membership is two-valued (see the module docstring): an unknown condition means "out".
    # A segment never sees the event of an enclosing aggregate.
    inner = _cond(_segment(name, ctx.segments).cond, replace(ctx, event=None, event_name=None))
    return func.coalesce(inner, false(), type_=Boolean)


def _compare(cond: Cmp, ctx: _Ctx) -> ColumnElement[bool]:
    kind = _kind_of(cond.left, ctx) or _kind_of(cond.right, ctx)
    if kind is None:
        kind = "number" if cond.op in _ORDERING else "string"
    result: BinaryExpression[bool] = _OPS[cond.op](_value(cond.left, kind, ctx),
                                                   _value(cond.right, kind, ctx))
    return result


def _one_of(cond: OneOf, ctx: _Ctx) -> ColumnElement[bool]:
    if not cond.items:
        return false()  # SQL: x IN () is false, even for a NULL x
    kind = _kind_of(cond.items[0], ctx) or "string"
    return _value(cond.value, kind, ctx).in_([item.value for item in cond.items])


# ------------------------------------------------------------------ values
def _kind_of(value: Value, ctx: _Ctx) -> Kind | None:
    match value:
        case Const(value=bool()):
            return "bool"
        case Const(value=str()):
            return "string"
        case Const() | Rel() | Agg():
            return "number"
        case Ref():
            return _ref_kind(value, ctx)


def _ref_kind(ref: Ref, ctx: _Ctx) -> Kind | None:
    if ref.scope == "customer" and ref.name in BUILTIN_CUSTOMER:
        return "string"
    if ctx.schema is None:
        return None
    if ref.scope == "customer":
        attr = ctx.schema.customer.get(ref.name)
    elif ref.scope == "event" and ctx.event_name is not None:
        attr = ctx.schema.events.get(ctx.event_name, {}).get(ref.name)
    else:
        return None
    return None if attr is None else _KIND_OF_TYPE[attr.type]


def _value(value: Value, kind: Kind, ctx: _Ctx) -> ColumnElement[Any]:
    match value:
        case Const():
            return literal(value.value)
        case Rel():
            return _now(ctx, value.offset_s)
        case Agg():
            return _agg(value, ctx)
        case Ref():
            return _ref(value, kind, ctx)


def _ref(ref: Ref, kind: Kind, ctx: _Ctx) -> ColumnElement[Any]:
    match ref.scope:
        case "customer" if ref.name in BUILTIN_CUSTOMER:
            return customers.c[ref.name]
        case "customer":
            return _typed(customers.c.attributes[ref.name], kind)
        case "event" if ctx.event is not None:
            return _typed(ctx.event.c.properties[ref.name], kind)
        case "event":
            raise ValueError(f"'event.{ref.name}' refers to the event being handled, which only "
                             "the runtime knows: evaluate this condition with "
                             "cadenza.engine.evaluate, not in SQL.")
        case _:
            shown = f"{ref.var}.{ref.name}" if ref.var else f"{ref.scope}.{ref.name}"
            raise ValueError(f"'{shown}' refers to an event bound by the runtime, which SQL "
                             "cannot see: evaluate this condition with cadenza.engine.evaluate.")


def _typed(item: Any, kind: Kind) -> ColumnElement[Any]:
    # SQLAlchemy's cross-dialect accessors: JSON_EXTRACT on SQLite, ->> with a cast on PostgreSQL;
    # both give NULL for a missing key and for a JSON null.
    match kind:
        case "string":
            as_string: ColumnElement[str] = item.as_string()
            return as_string
        case "number":
            as_float: ColumnElement[float] = item.as_float()
            return as_float
        case "bool":
            as_boolean: ColumnElement[bool] = item.as_boolean()
            return as_boolean


# ------------------------------------------------------------------ aggregates
def _agg(agg: Agg, ctx: _Ctx) -> ColumnElement[Any]:
    ev = events.alias()  # its own alias, so an aggregate inside a `where` has its own events
    inner = replace(ctx, event=ev, event_name=agg.event)
    where = [ev.c.customer_id == customers.c.id, ev.c.name == agg.event,
             ev.c.ts <= _now(ctx)]
    if agg.window_s is not None:
        where.append(ev.c.ts >= _now(ctx, -agg.window_s))
    if agg.where is not None:
        where.append(_cond(agg.where, inner))
    return select(_agg_fn(agg, ev)).where(*where).correlate(customers).scalar_subquery()


def _agg_fn(agg: Agg, ev: FromClause) -> ColumnElement[Any]:
    match agg.fn:
        case "count":
            return func.count()
        case "first":
            return func.min(ev.c.ts)
        case "last":
            return func.max(ev.c.ts)
        case _:
            if agg.prop is None:
                raise ValueError(f"{agg.fn}({agg.event}) needs a number property.")
            prop: ColumnElement[float] = ev.c.properties[agg.prop].as_float()
            fn: Callable[[ColumnElement[float]], ColumnElement[Any]] = getattr(func, agg.fn)
            return fn(prop)
