"""What may come next at the cursor: keywords, or the project's names where the words before
the cursor say which kind of name is wanted (`segment `, `event.`, `send email "` ...)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from lark.lexer import PatternStr
from lsprotocol import types

from cadenza.engine.lsp import scan
from cadenza.engine.lsp.index import ProjectIndex
from cadenza.grammar.comments import scan_comments
from cadenza.grammar.parser import build_parser
from cadenza.playbooks.policies import CHANNELS
from cadenza.playbooks.templates import EXTRA_VARS

Kind = types.CompletionItemKind
_AGGREGATES = "count|sum|avg|min|max|first|last"
_NAMESPACE = re.compile(r"\b([A-Za-z_]\w*)\.$")
_AFTER_SEGMENT = re.compile(r"\bsegment\s+$")
_AFTER_EVENT = re.compile(rf"(?:\bevent\s+|\b(?:{_AGGREGATES})\s*\(\s*)$")
_AFTER_STAGE = re.compile(r"\bstage\s+$")
_AFTER_FRAMEWORK = re.compile(r"\bframework\s+$")
_AFTER_TOUCH = re.compile(r"\btouch\s+$")
_AFTER_CHANNEL = re.compile(r"(?:\b(?:cap|consent)|\bquiet\s+hours)\s+$")
_AFTER_SEND = re.compile(r"\bsend\s+$")
_AFTER_EXPECT = re.compile(r"\bexpect\s+$")
_AFTER_TARGET = re.compile(r"(?:\bgoto\s+|->\s*)$")
_TEMPLATE_STRING = re.compile(r"\b(?:send|expect)\s+\w+\s+$")
_LIQUID_OPEN = re.compile(r"\{\{(?:(?!\}\}).)*$")
TOUCH_LEVELS = ("high", "low", "none")


@dataclass(frozen=True, slots=True)
class Completion:
    """`items` replace `prefix`, the part of a name typed just before the cursor."""

    prefix: str
    items: tuple[types.CompletionItem, ...]


@functools.lru_cache(maxsize=1)
def keywords() -> tuple[str, ...]:
    """Every word of the grammar, read from the parser so the list cannot drift from it."""
    words = {t.pattern.value for t in build_parser().terminals
             if isinstance(t.pattern, PatternStr) and t.pattern.value.isidentifier()}
    return tuple(sorted(words))


def complete(text: str, offset: int, index: ProjectIndex | None,
             *, contextual_only: bool = False) -> Completion:
    """Completions at `offset` (in code points) of `text`. With `contextual_only` (the client
    asked because a trigger character was typed) only a context-specific list is offered,
    never the generic keyword list."""
    line_start = text.rfind("\n", 0, offset) + 1
    line = text[line_start:offset]
    if scan_comments(line):
        return Completion(prefix="", items=())  # the cursor is in a comment: prose, not code
    inside = scan.string_at(line, len(line))
    if inside is not None:
        return _in_string(line, inside[0], text, offset, index)
    prefix = scan.word_before(line)
    head = line[: len(line) - len(prefix)]
    items = _contextual(head, text, offset, index)
    if items is None:
        items = () if contextual_only else _generic(index)
    return Completion(prefix=prefix, items=tuple(items))


def _contextual(head: str, text: str, offset: int, index: ProjectIndex | None,
                ) -> Iterable[types.CompletionItem] | None:
    namespace = _NAMESPACE.search(head)
    if namespace:
        return _members(namespace.group(1), text, offset, index)
    if index is None:
        return None
    # Lazily: only the rule that matches computes its list.
    rules: list[tuple[re.Pattern[str], Callable[[], Iterable[types.CompletionItem]]]] = [
        (_AFTER_SEGMENT, lambda: _segments(index)),
        (_AFTER_EVENT, lambda: _events(index)),
        (_AFTER_STAGE, lambda: _stages(text, offset, index)),
        (_AFTER_FRAMEWORK, lambda: [_item(f, Kind.Enum, "framework")
                                    for f in sorted(index.frameworks)]),
        (_AFTER_TOUCH, lambda: [_item(t, Kind.Value, "engagement model") for t in TOUCH_LEVELS]),
        (_AFTER_CHANNEL, _channels),
        (_AFTER_SEND, lambda: [*_channels(), _item("window", Kind.Keyword, "send window policy")]),
        (_AFTER_EXPECT, lambda: [*_channels(), _item("task", Kind.Value, "a human task"),
                                 _item("nothing", Kind.Keyword, "no sends at all")]),
        (_AFTER_TARGET, lambda: _labels(text, offset)),
    ]
    for pattern, items in rules:
        if pattern.search(head):
            return items()
    return None


def _in_string(line: str, opened: int, text: str, offset: int,
               index: ProjectIndex | None) -> Completion:
    content = line[opened:]
    if index is not None and _TEMPLATE_STRING.search(line[: opened - 1]):
        files = index.templates.items()
        return Completion(prefix=content, items=tuple(
            _item(name, Kind.File, file) for name, file in sorted(files)))
    liquid = _LIQUID_OPEN.search(content)
    if liquid is None:
        return Completion(prefix="", items=())
    expr = liquid.group(0)[2:]
    prefix = scan.word_before(expr)
    head = expr[: len(expr) - len(prefix)]
    namespace = _NAMESPACE.search(head)
    if namespace:
        return Completion(prefix=prefix,
                          items=tuple(_members(namespace.group(1), text, offset, index)))
    names = [] if index is None else [_item(a, Kind.Field, t) for a, t in index.customer.items()]
    names += [_item(v, Kind.Variable, "template variable")
              for v in ("event", "customer", "playbook", *EXTRA_VARS)]
    return Completion(prefix=prefix, items=tuple(names))


def _members(namespace: str, text: str, offset: int, index: ProjectIndex | None,
             ) -> list[types.CompletionItem]:
    """After `event.`, `customer.` or `some_event.` (in an aggregate): that thing's fields."""
    if index is None:
        return []
    if namespace == "customer":
        return [_item(a, Kind.Field, t) for a, t in sorted(index.customer.items())]
    event = scan.event_in_scope(text, offset) if namespace == "event" else namespace
    props = index.properties.get(event or "", {})
    return [_item(p, Kind.Property, f"{event}.{p}: {t}") for p, t in sorted(props.items())]


def _channels() -> list[types.CompletionItem]:
    return [_item(c, Kind.Value, "channel") for c in CHANNELS]


def _events(index: ProjectIndex) -> list[types.CompletionItem]:
    return [_item(e, Kind.Event, "event") for e in sorted(index.properties)]


def _stages(text: str, offset: int, index: ProjectIndex) -> list[types.CompletionItem]:
    framework = scan.framework_of(text, offset)
    chosen = {framework: index.frameworks[framework]} if framework in index.frameworks \
        else index.frameworks
    return [_item(s, Kind.EnumMember, f"stage of {name}")
            for name, stages in chosen.items() for s in stages]


def _labels(text: str, offset: int) -> list[types.CompletionItem]:
    region = scan.playbook_at(text, offset)
    found = {} if region is None else scan.labels(region)
    return [_item(label, Kind.Reference, "step") for label in sorted(found)]


def _generic(index: ProjectIndex | None) -> list[types.CompletionItem]:
    items = [_item(k, Kind.Keyword) for k in keywords()]
    if index is not None:
        items += [_item(a, Kind.Field, t) for a, t in sorted(index.customer.items())]
    return items


def _segments(index: ProjectIndex) -> list[types.CompletionItem]:
    return [_item(s.name, Kind.Reference, s.detail) for _, s in sorted(index.segments.items())]


def _item(label: str, kind: types.CompletionItemKind, detail: str = "") -> types.CompletionItem:
    return types.CompletionItem(label=label, kind=kind, detail=detail or None)
