"""The fast path of the parser: Lark's LALR tables, our tokenizer, the AST built in reductions.

Stock Lark use (contextual lexer, a parse tree with positions, then a tree walk) spends most
of its time outside the LALR automaton: a regex scanner per parser state, a `Token` built
through a generic constructor, a `Tree` and its `Meta` for every reduction, then a second
walk to build the AST. Here the same LALR automaton (`ParserState.feed_token` over the
parse table Lark built from playbook.lark) is fed by one master regex, and each reduction
calls the AST method of the same rule directly, with the span Lark would have propagated.

The fast path only ever answers for well-formed input. It gives up (returns None) on the
first token the contextual lexer might have read differently, on any syntax error and on
nesting deeper than the limit; the caller then parses the text again the stock way, which
owns error recovery and its messages. So every diagnostic still comes from one place.

Why the tokens are the contextual lexer's: the master pattern lists the terminals in the
order of Lark's own root lexer (priority, then width), so at any position it picks the
terminal the root lexer picks. A state's lexer only knows a subset of those terminals, in the
same order, so when the root lexer's pick is acceptable in the current state, the state's
lexer picks it too; keywords are NAME matches promoted when the state accepts the keyword,
exactly like Lark's "unless" callback. When the pick is not acceptable, the fast path stops.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from lark import Lark, Token
from lark.exceptions import UnexpectedInput
from lark.grammar import Rule, Terminal
from lark.lexer import (
    BasicLexer,
    ContextualLexer,
    LexerThread,
    PatternStr,
    TerminalDef,
    UnlessCallback,
)
from lark.parsers.lalr_analysis import ParseTableBase
from lark.parsers.lalr_parser_state import ParseConf, ParserState

from cadenza.grammar import ast
from cadenza.grammar.diagnostics import Span
from cadenza.grammar.transformer import ToAst

Callback = Callable[[list[Any]], Any]
_new_str = str.__new__


class _Node:
    """A reduced value on the parser's stack: what the AST method returned, the text it
    covers (including the parentheses of a `(cond)` the rule was lifted out of: Lark's
    "container" positions), and the depth of the parse tree Lark would have built."""

    __slots__ = ("column", "depth", "end_column", "end_line", "line", "value")

    def __init__(self, value: Any, line: int, column: int, end_line: int, end_column: int,
                 depth: int) -> None:
        self.value = value
        self.line = line
        self.column = column
        self.end_line = end_line
        self.end_column = end_column
        self.depth = depth


class FallbackError(Exception):
    """The fast path cannot vouch for this text (or this grammar): parse it the stock way."""


# ---------------------------------------------------------------- reductions
TOK, VAL, ALL, NONE = range(4)


@dataclass(frozen=True)
class _Shape:
    """How one grammar rule's children become the list its AST method receives.

    `plan` holds, per child the method sees: (TOK, i) the token at i, (VAL, i) the value
    reduced at i, (ALL, i) the items of a `_`-rule at i spliced in, (NONE, 0) a placeholder
    for an absent `[optional]` (Lark's maybe_placeholders).
    """

    plan: tuple[tuple[int, int], ...]
    rules_at: tuple[int, ...]  # indexes of children that are reductions (for depth)


def _shape(rule: Rule) -> _Shape:
    expansion = rule.expansion
    empty = rule.options.empty_indices
    if empty:
        bits = "".join("1" if b else "0" for b in empty)
        nones = [len(run) for run in bits.split("0")]
    else:
        nones = [0] * (len(expansion) + 1)
    plan: list[tuple[int, int]] = []
    for i, sym in enumerate(expansion):
        plan.extend((NONE, 0) for _ in range(nones[i]))
        if isinstance(sym, Terminal):
            if rule.options.keep_all_tokens or not sym.filter_out:
                plan.append((TOK, i))
        else:
            plan.append((ALL if sym.name.startswith("_") else VAL, i))
    plan.extend((NONE, 0) for _ in range(nones[len(expansion)]))
    rules_at = tuple(i for i, sym in enumerate(expansion) if not sym.is_term)
    return _Shape(plan=tuple(plan), rules_at=rules_at)


def _gather(shape: _Shape, children: list[Any]) -> list[Any]:
    out: list[Any] = []
    for kind, i in shape.plan:
        if kind == TOK:
            out.append(children[i])
        elif kind == VAL:
            out.append(children[i].value)
        elif kind == ALL:
            out.extend(children[i].value)
        else:
            out.append(None)
    return out


def _depth(rules_at: tuple[int, ...], children: list[Any]) -> int:
    deepest = 0
    for i in rules_at:
        deepest = max(deepest, children[i].depth)
    return deepest


def _list_callback(shape: _Shape) -> Callback:
    """A `_`-rule (Lark's helper for `x*`): its items are spliced into the parent's."""
    plan, rules_at = shape.plan, shape.rules_at
    left = plan[0] == (ALL, 0)  # left recursion: extend the list already built

    def reduce(children: list[Any]) -> _Node:
        first, last = children[0], children[-1]
        if left:
            items = first.value
            for kind, i in plan[1:]:
                items.append(children[i] if kind == TOK else children[i].value)
        else:
            items = _gather(shape, children)
        return _Node(items, first.line, first.column, last.end_line, last.end_column,
                     _depth(rules_at, children))

    if any(kind in (ALL, NONE) for kind, _ in plan[1 if left else 0:]):
        raise FallbackError("unsupported list rule shape")
    return reduce


def _lift_callback(rule: Rule, shape: _Shape) -> Callback:
    """A `?rule` with one child: the child stands for it, spanning the rule's whole text."""
    kept = [i for kind, i in shape.plan if kind != NONE]
    if len(kept) != 1 or len(shape.plan) != 1 or shape.plan[0][0] != VAL:
        raise FallbackError(f"unsupported lifted rule {rule}")
    if len(rule.expansion) == 1:
        return lambda children: children[0]
    (at,) = kept

    def reduce(children: list[Any]) -> _Node:
        child, first, last = children[at], children[0], children[-1]
        return _Node(child.value, first.line, first.column, last.end_line, last.end_column,
                     child.depth)

    return reduce


def _node_callback(shape: _Shape, build: Callable[[Span, list[Any]], Any]) -> Callback:
    rules_at = shape.rules_at

    def reduce(children: list[Any]) -> _Node:
        if not children:  # only `start` of an empty file; Lark's empty meta gives 1:1
            return _Node(build(Span(line=1, col=1, end_line=1, end_col=1), []), 1, 1, 1, 1, 1)
        first, last = children[0], children[-1]
        span = Span(line=first.line, col=first.column, end_line=last.end_line,
                    end_col=last.end_column)
        value = build(span, _gather(shape, children))
        return _Node(value, span.line, span.col, span.end_line, span.end_col,
                     _depth(rules_at, children) + 1)

    return reduce


def _callbacks(rules: Sequence[Rule], to_ast: ToAst) -> dict[Rule, Callback]:
    out: dict[Rule, Callback] = {}
    for rule in rules:
        name = rule.origin.name
        assert isinstance(name, str)
        shape = _shape(rule)
        if name.startswith("_"):
            out[rule] = _list_callback(shape)
        elif rule.options.expand1 and not rule.alias:
            out[rule] = _lift_callback(rule, shape)
        else:
            out[rule] = _node_callback(shape, to_ast.builder(str(rule.alias or name)))
    return out


def _canonical(table: ParseTableBase[int], rules: Sequence[Rule]) -> ParseTableBase[int]:
    """The same table, with each reduction naming one shared Rule object per rule.

    A table loaded from Lark's cache holds a fresh Rule object per state, so every
    `callbacks[rule]` lookup in the parser loop fell through to Rule.__eq__.
    """
    canon = {rule: rule for rule in rules}
    states = {state: {sym: (action, canon[arg] if isinstance(arg, Rule) else arg)
                      for sym, (action, arg) in actions.items()}
              for state, actions in table.states.items()}
    out = copy.copy(table)
    out.states = states
    return out


# ---------------------------------------------------------------- tokens
def _master_pattern(lexer: ContextualLexer, ignore: Collection[str],
                    ) -> tuple[re.Pattern[str], re.Pattern[str], tuple[str, ...], dict[str, str]]:
    root = lexer.root_lexer
    if not isinstance(root, BasicLexer):
        raise FallbackError("the fast path mirrors Lark's BasicLexer")
    ordered: list[TerminalDef] = list(root.scanner.terminals)
    tokens = [t for t in ordered if t.name not in ignore]
    skips = [t for t in ordered if t.name in ignore]
    keywords: dict[str, str] = {}
    for name, unless in root.callback.items():
        if name != "NAME":
            raise FallbackError(f"unexpected lexer callback on {name}")
        if not isinstance(unless, UnlessCallback):
            raise FallbackError(f"unexpected lexer callback {unless!r}")
        for t in unless.scanner.terminals:
            assert isinstance(t.pattern, PatternStr)
            keywords[t.pattern.value] = t.name
    # Atomic groups: a run of blanks is consumed once, never re-split on a later mismatch.
    skip = "(?:" + "|".join(f"(?>{t.pattern.to_regexp()})" for t in skips) + ")*+"
    alternatives = "|".join(f"({t.pattern.to_regexp()})" for t in tokens)
    master = re.compile(f"{skip}(?:{alternatives})")
    rest = re.compile(skip)
    names = ("", *(t.name for t in tokens))
    return master, rest, names, keywords


class FastParser:
    """Text -> AST items through Lark's LALR automaton, or FallbackError."""

    def __init__(self, lark: Lark, max_depth: int) -> None:
        frontend = lark.parser
        lexer = frontend.lexer
        if not isinstance(lexer, ContextualLexer):
            raise FallbackError("the fast path mirrors Lark's contextual lexer")
        self._master, self._rest, self._names, self._keywords = _master_pattern(
            lexer, frontend.lexer_conf.ignore)
        table = _canonical(frontend.parser._parse_table, lark.rules)
        callbacks: Any = _callbacks(lark.rules, ToAst())  # Lark types them by name; LALR by Rule
        self._conf = ParseConf(table, callbacks, "start")
        self._thread = LexerThread(lexer, None)  # never read: we feed tokens ourselves
        self._max_depth = max_depth

    def parse(self, text: str) -> tuple[ast.Item, ...]:
        state = ParserState(self._conf, self._thread)
        try:
            last = self._feed(text, state)
            end = Token("$END", "", last.end_pos, last.end_line, last.end_column)
            result = state.feed_token(end, True)
        except UnexpectedInput as exc:
            raise FallbackError("syntax error") from exc
        if result.depth > self._max_depth:
            raise FallbackError("too deep")
        items: tuple[ast.Item, ...] = result.value
        return items

    def _feed(self, text: str, state: ParserState[int]) -> Token:
        match = self._master.match
        names, keywords = self._names, self._keywords
        states, stack, feed = state.parse_conf.states, state.state_stack, state.feed_token
        pos = line_start = 0
        line = 1
        tok = Token("$START", "", 0, 1, 1, 1, 1, 0)  # only borrowed from by an empty file's $END
        while (m := match(text, pos)) is not None:
            group = m.lastindex
            assert group is not None
            start, pos = m.span(group)
            if start != m.start():  # blanks and comments were skipped
                skipped = m.start()
                newlines = text.count("\n", skipped, start)
                if newlines:
                    line += newlines
                    line_start = text.rindex("\n", skipped, start) + 1
            kind = names[group]
            value = text[start:pos]
            accepts = states[stack[-1]]
            if kind == "NAME":
                keyword = keywords.get(value)
                if keyword is not None and keyword in accepts:
                    kind = keyword
                elif kind not in accepts:
                    raise FallbackError("name not acceptable here")
            elif kind not in accepts:
                raise FallbackError("token not acceptable here")
            # Token() goes through a generic constructor with deprecation checks that cost more
            # than the rest of this loop; this builds the same complete Token directly.
            tok = _new_str(Token, value)
            tok.type = kind
            tok.value = value
            tok.start_pos = start
            tok.line = tok.end_line = line
            tok.column = column = start - line_start + 1
            tok.end_column = column + (pos - start)
            tok.end_pos = pos
            feed(tok)
        rest = self._rest.match(text, pos)
        if rest is None or rest.end() != len(text):
            raise FallbackError("unexpected character")
        return tok
