"""Where a name under the cursor is declared: a segment's `segment` line, a template's file,
an event's schema entry, a step label in the same playbook."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cadenza.engine.lsp import scan
from cadenza.engine.lsp.index import ProjectIndex
from cadenza.grammar.diagnostics import Span

_BEFORE_SEGMENT = re.compile(r"\bsegment\s+$")
_BEFORE_EVENT = re.compile(r"(?:\bevent\s+|\b(?:count|sum|avg|min|max|first|last)\s*\(\s*)$")
_BEFORE_TARGET = re.compile(r"(?:\bgoto\s+|->\s*)$")
_BEFORE_TEMPLATE = re.compile(r"\b(?:send|expect)\s+\w+\s+$")


@dataclass(frozen=True, slots=True)
class Target:
    """A declaration: in `file`, or in the document asked about when `file` is None."""

    file: str | None
    span: Span


def definition(text: str, offset: int, index: ProjectIndex) -> Target | None:
    line_start = text.rfind("\n", 0, offset) + 1
    line_end = text.find("\n", offset)
    line = text[line_start: len(text) if line_end < 0 else line_end]
    col = offset - line_start
    inside = scan.string_at(line, col)
    if inside is not None:
        start, end = inside
        if not _BEFORE_TEMPLATE.search(line[: start - 1]):
            return None
        file = index.templates.get(line[start:end])
        return None if file is None else Target(file, Span.point(1, 1))
    word = scan.word_at(line, col)
    if word is None:
        return None
    name, head = line[word[0]: word[1]], line[: word[0]]
    if _BEFORE_SEGMENT.search(head) and name in index.segments:
        symbol = index.segments[name]
        return Target(symbol.file, symbol.span)
    if _BEFORE_EVENT.search(head) and name in index.events:
        symbol = index.events[name]
        return Target(symbol.file, symbol.span)
    if _BEFORE_TARGET.search(head):
        return _label(text, offset, name)
    return None


def _label(text: str, offset: int, name: str) -> Target | None:
    region = scan.playbook_at(text, offset)
    at = None if region is None else scan.labels(region).get(name)
    if at is None:
        return None
    line = text.count("\n", 0, at) + 1
    col = at - (text.rfind("\n", 0, at) + 1) + 1
    return Target(None, Span(line=line, col=col, end_line=line, end_col=col + len(name)))
