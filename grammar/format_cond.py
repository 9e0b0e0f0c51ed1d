"""Conditions and values -> canonical text, with only the parentheses the tree needs.

Precedence runs `or` < `and` < `not` < atoms. A child gets parentheses when printing it bare
would parse into a different tree: an Or inside an And, an And or Or inside a Not, and an Or
inside an Or or an And inside an And (`(a or b) or c` is its own tree; flattening it would
change the AST, which the formatter must never do).
"""

from __future__ import annotations

from cadenza.grammar import ast

# Binding strength of each composite condition; atoms bind tightest.
_OR, _AND, _NOT, _ATOM = 1, 2, 3, 4


def _strength(cond: ast.Cond) -> int:
    match cond:
        case ast.Or():
            return _OR
        case ast.And():
            return _AND
        case ast.Not():
            return _NOT
        case _:
            return _ATOM


def _operand(cond: ast.Cond, parent: int) -> str:
    """A child of an Or/And: wrapped when it binds no tighter than its parent."""
    text = format_cond(cond)
    return f"({text})" if _strength(cond) <= parent else text


def format_cond(cond: ast.Cond) -> str:
    match cond:
        case ast.Or(items=items):
            return " or ".join(_operand(c, _OR) for c in items)
        case ast.And(items=items):
            return " and ".join(_operand(c, _AND) for c in items)
        case ast.Not(item=item):
            inner = format_cond(item)
            return f"not ({inner})" if _strength(item) < _NOT else f"not {inner}"
        case ast.SegmentRef(name=name):
            return f"segment {name.name}"
        case ast.Compare(left=left, op=op, right=right):
            return f"{format_value(left)} {op} {format_value(right)}"
        case ast.InList(value=value, items=items):
            listed = ", ".join(i.raw for i in items)
            return f"{format_value(value)} in [{listed}]"
        case ast.IsSet(value=value, negated=negated):
            return f"{format_value(value)} is {'not set' if negated else 'set'}"
        case ast.Truthy(value=value):
            return format_value(value)


def format_value(value: ast.Value) -> str:
    match value:
        case ast.Path():
            return value.dotted
        case ast.Literal(raw=raw):
            return raw
        case ast.Aggregate():
            return _aggregate(value)
        case ast.RelativeTime(duration=None):
            return "now"
        case ast.RelativeTime(duration=duration, sign=sign):
            assert duration is not None  # narrowed by the case above; mypy cannot see it
            return f"{duration.text} {'ago' if sign < 0 else 'from now'}"


def _aggregate(agg: ast.Aggregate) -> str:
    target = agg.event.name if agg.prop is None else f"{agg.event.name}.{agg.prop.name}"
    where = "" if agg.where is None else f" where {format_cond(agg.where)}"
    window = "" if agg.window is None else f" in last {agg.window.text}"
    return f"{agg.fn}({target}{where}{window})"


def where_clause(cond: ast.Cond | None) -> str:
    """The optional ` where <cond>` suffix shared by triggers, exits, goals and waits."""
    return "" if cond is None else f" where {format_cond(cond)}"
