"""Conditions and values -> canonical text, with only the parentheses the tree needs.

Precedence runs `or` < `and` < `not` < atoms. A child gets parentheses when printing it bare
would parse into a different tree: an Or inside an And, an And or Or inside a Not, and an Or
inside an Or or an And inside an And (`(a or b) or c` is its own tree; flattening it would
change the AST, which the formatter must never do).

Long conditions wrap. `layout_cond` lays out one statement, `head + condition + tail`, as
`(depth, text)` lines, where depth counts `INDENT`s and width counts code points (a comment
after the line is not counted, so comments never change the layout):

1. If the statement fits in `MAX_WIDTH` columns, it is one line.
2. Otherwise, if the condition is an `or`/`and`, it breaks before each of its operators: the
   first operand stays on the statement's line, each further operand gets its own line that
   starts with the operator (`and segment x`), two levels (4 spaces) deeper than the statement;
   the tail follows the last operand.
3. Each operand line is laid out by the same rule, so an operand that still does not fit and
   is itself an `or`/`and` (parenthesised, or an `and` inside an `or`) breaks in turn: its
   first operand stays after `(`, its further operands go two levels deeper than the line
   they belong to, and `)` closes on its last line.
4. Anything else (`not (...)`, a comparison, an aggregate) never breaks, even when too long.
5. If the first line is still too long (a long head such as a segment's title, or a long first
   operand) and starting the condition on a line of its own, two levels deeper, makes its first
   line fit, it does so: the head ends its line, and the operands that follow line up with the
   first one:

       segment lapsing "Last order 45 to 120 days ago, with a title too long for one line" =
           last(order_completed) < 45d ago
           and last(order_completed) > 120d ago

The layout is a function of the tree and the depth alone, so formatting is idempotent.
"""

from __future__ import annotations

from cadenza.grammar import ast

INDENT = "  "
MAX_WIDTH = 100
HANG = 2  # continuation lines are two indent levels deeper, so they never look like a body

Line = tuple[int, str]  # (depth in indents, text)

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


def fits(depth: int, text: str) -> bool:
    """Whether `text`, indented `depth` levels, stays within `MAX_WIDTH` code points."""
    return len(INDENT) * depth + len(text) <= MAX_WIDTH


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


def layout_cond(cond: ast.Cond, depth: int, head: str, tail: str = "") -> list[Line]:
    """`head + cond + tail` as lines at `depth`, wrapped by the rules of the module docstring."""
    hanging = _layout(cond, depth, depth + HANG, head, tail)
    if fits(*hanging[0]):
        return hanging
    below = _layout(cond, depth + HANG, depth + HANG, "", tail)  # rule 5
    return [(depth, head.rstrip()), *below] if fits(*below[0]) else hanging


def _layout(cond: ast.Cond, depth: int, cont: int, head: str, tail: str) -> list[Line]:
    """`cond` starting after `head` on a line at `depth`; its further operands go at `cont`."""
    text = head + format_cond(cond) + tail
    if fits(depth, text) or not isinstance(cond, ast.Or | ast.And):
        return [(depth, text)]
    op, strength = ("or", _OR) if isinstance(cond, ast.Or) else ("and", _AND)
    last = len(cond.items) - 1
    lines: list[Line] = []
    for i, item in enumerate(cond.items):
        opening, closing = ("(", ")") if _strength(item) <= strength else ("", "")
        at, lead = (depth, head) if i == 0 else (cont, f"{op} ")
        end = closing + (tail if i == last else "")
        lines += _layout(item, at, cont + HANG, lead + opening, end)
    return lines
