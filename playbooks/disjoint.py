"""Can two conditions never hold for the same customer? A sound, deliberately partial proof.

`disjoint(a, b)` answers True only when no customer state makes both conditions true in the
engine's three-valued logic (see cadenza.engine.evaluate); False means "not proven", so a
caller that warns about overlaps errs on the side of warning. What it can prove:

- a condition against its own negation, segment X against `not segment X`;
- two comparisons of the same attribute (or aggregate) with constants whose sets of values do
  not meet: `plan == "a"` / `plan == "b"`, `x < 5` / `x >= 5`, `in [...]` lists with nothing
  in common, `is not set` against any comparison;
- and/or/not of those, and segments through their definitions.

A negation is pushed inwards (De Morgan holds in Kleene logic, and `not x < 5` is true exactly
when `x >= 5` is). `not segment X` is kept whole: it also holds when X's condition is unknown,
which is weaker than the negation of the condition.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from cadenza.playbooks import model as m

Op = Literal["==", "!=", "<", "<=", ">", ">="]
_FLIP: dict[str, Op] = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}
_MIRROR: dict[str, Op] = {"==": "==", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}
_BUDGET = 20_000  # proof steps per question; conditions are small, this bounds the odd one
_MAX_DEPTH = 64  # segments nest; cycles are compile errors, this is a second guard


@dataclass(frozen=True)
class Lit:
    """An atomic condition, or (positive=False) its negation."""

    atom: m.Cond
    positive: bool = True
    expanded: bool = False  # a segment whose definition is already beside it


@dataclass(frozen=True)
class Either:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Both:
    items: tuple[Node, ...]


Node = Lit | Either | Both


def normal(cond: m.Cond, positive: bool = True) -> Node:
    """`cond` (negated unless `positive`) with negations pushed down to the atoms."""
    match cond:
        case m.AllOf() | m.AnyOf():
            parts = tuple(normal(i, positive) for i in cond.items)
            conjunction = isinstance(cond, m.AllOf) == positive
            return Both(parts) if conjunction else Either(parts)
        case m.Negation():
            return normal(cond.item, not positive)
        case m.Cmp():
            return _cmp(cond, positive)
        case m.Truth():
            # A bare bool attribute: true when it is true, its negation when it is false.
            return Lit(m.Cmp(op="==", left=cond.value, right=m.Const(value=positive)))
        case m.Present():
            return Lit(m.Present(value=cond.value, negated=cond.negated != (not positive)))
        case _:
            return Lit(cond, positive)


def _cmp(cond: m.Cmp, positive: bool) -> Lit:
    op: Op = cond.op
    left, right = cond.left, cond.right
    if isinstance(left, m.Const) and not isinstance(right, m.Const):
        op, left, right = _MIRROR[op], right, left
    if not positive:
        op = _FLIP[op]  # both sides must be known for either to be true
    return Lit(m.Cmp(op=op, left=left, right=right))


@dataclass
class Prover:
    segments: Mapping[str, m.Segment]
    steps: int = 0

    def disjoint(self, a: Node, b: Node, depth: int = 0) -> bool:
        self.steps += 1
        if self.steps > _BUDGET or depth > _MAX_DEPTH:
            return False
        if isinstance(a, Lit) and isinstance(b, Lit) and literals_disjoint(a, b):
            return True
        if isinstance(a, Either):
            return all(self.disjoint(i, b, depth) for i in a.items)
        if isinstance(b, Either):
            return all(self.disjoint(a, i, depth) for i in b.items)
        if isinstance(a, Both) and any(self.disjoint(i, b, depth) for i in a.items):
            return True
        if isinstance(b, Both) and any(self.disjoint(a, i, depth) for i in b.items):
            return True
        wider = self._expand(a)
        if wider is not None:
            return self.disjoint(wider, b, depth + 1)
        wider = self._expand(b)
        return wider is not None and self.disjoint(a, wider, depth + 1)

    def _expand(self, node: Node) -> Node | None:
        """Segment X as "X and its condition": membership is exactly "the condition is true".

        Keeping X itself beside its definition lets `not segment X` elsewhere still meet it.
        """
        if not (isinstance(node, Lit) and node.positive and not node.expanded
                and isinstance(node.atom, m.InSegment)):
            return None
        segment = self.segments.get(node.atom.name)
        if segment is None:
            return None
        return Both((Lit(node.atom, expanded=True), normal(segment.cond)))


def disjoint(a: m.Cond | None, b: m.Cond | None, segments: Mapping[str, m.Segment]) -> bool:
    """True when no customer can satisfy both; None stands for "everyone"."""
    if a is None or b is None:
        return False
    return Prover(segments).disjoint(normal(a), normal(b))


def literals_disjoint(a: Lit, b: Lit) -> bool:
    if a.atom == b.atom and a.positive != b.positive:
        return True
    if not (a.positive and b.positive):
        return False
    x, y = a.atom, b.atom
    if isinstance(x, m.Present) and isinstance(y, m.Present):
        return x.value == y.value and x.negated != y.negated
    unset = _unset_value(x) or _unset_value(y)
    if unset is not None:
        # Every comparison and `in` is unknown, never true, on a value that is not set.
        other = y if _unset_value(x) else x
        return _compared_value(other) == unset
    return _values_disjoint(x, y)


def _unset_value(c: m.Cond) -> m.Value | None:
    return c.value if isinstance(c, m.Present) and c.negated else None


def _compared_value(c: m.Cond) -> m.Value | None:
    if isinstance(c, m.Cmp) and isinstance(c.right, m.Const):
        return c.left
    if isinstance(c, m.OneOf):
        return c.value
    return None


def _values_disjoint(x: m.Cond, y: m.Cond) -> bool:
    left = _compared_value(x)
    if left is None or left != _compared_value(y):
        return False
    return not (_allowed(x) & _allowed(y)) if _finite(x) and _finite(y) else _ranges(x, y)


def _finite(c: m.Cond) -> bool:
    return isinstance(c, m.OneOf) or (isinstance(c, m.Cmp) and c.op == "==")


def _allowed(c: m.Cond) -> set[tuple[str, str | float | bool]]:
    """The values a `==` or `in` allows."""
    if isinstance(c, m.OneOf):
        return {_key(i.value) for i in c.items}
    assert isinstance(c, m.Cmp)
    assert isinstance(c.right, m.Const)
    return {_key(c.right.value)}


def _key(v: str | float | bool) -> tuple[str, str | float | bool]:
    """A value typed so that True and 1.0 stay apart, and 1 and 1.0 do not."""
    if isinstance(v, bool):
        return "bool", v
    return ("str", v) if isinstance(v, str) else ("number", float(v))


def _ranges(x: m.Cond, y: m.Cond) -> bool:
    """Two comparisons with constants, at least one of them an inequality."""
    if not (isinstance(x, m.Cmp) and isinstance(y, m.Cmp)):
        return _not_equal_against_in(x, y) or _not_equal_against_in(y, x)
    a, b = x.right, y.right
    assert isinstance(a, m.Const)
    assert isinstance(b, m.Const)
    if "!=" in (x.op, y.op):
        pair = {x.op, y.op}
        return pair == {"!=", "=="} and _key(a.value) == _key(b.value)
    if not (_number(a.value) and _number(b.value)):
        return False
    lo_x, hi_x = _interval(x.op, float(a.value))
    lo_y, hi_y = _interval(y.op, float(b.value))
    return _empty(_tighter(lo_x, lo_y, max), _tighter(hi_x, hi_y, min))


def _not_equal_against_in(x: m.Cond, y: m.Cond) -> bool:
    if not (isinstance(x, m.Cmp) and x.op == "!=" and isinstance(y, m.OneOf)):
        return False
    assert isinstance(x.right, m.Const)
    return _allowed(y) == {_key(x.right.value)}


def _number(v: object) -> bool:
    return isinstance(v, float | int) and not isinstance(v, bool)


# A bound is (value, open): open bounds exclude the value itself.
Bound = tuple[float, bool]
_INF = float("inf")


def _interval(op: str, v: float) -> tuple[Bound, Bound]:
    lower: Bound = (v, op == ">") if op in (">", ">=", "==") else (-_INF, True)
    upper: Bound = (v, op == "<") if op in ("<", "<=", "==") else (_INF, True)
    return lower, upper


def _tighter(a: Bound, b: Bound, pick: Callable[[float, float], float]) -> Bound:
    if a[0] != b[0]:
        return a if pick(a[0], b[0]) == a[0] else b
    return a[0], a[1] or b[1]


def _empty(lower: Bound, upper: Bound) -> bool:
    if lower[0] != upper[0]:
        return lower[0] > upper[0]
    return lower[1] or upper[1]
