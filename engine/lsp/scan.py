"""Cheap reading of the text around the cursor, without the parser.

A file being typed is rarely valid, so completion and go-to-definition look at the raw text:
the statement's start, whether the cursor is inside a string, the enclosing playbook.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WORD = re.compile(r"[A-Za-z_]\w*")
_WORD_END = re.compile(r"[A-Za-z_]\w*$")
_PLAYBOOK_START = re.compile(r"^[ \t]*playbook[ \t]+\w+[^\n]*\{", re.MULTILINE)
_STEP_WORDS = "send|task|wait|branch|split|update|goto|end"
_LABEL = re.compile(rf"^[ \t]*([A-Za-z_]\w*)[ \t]*:[ \t]*(?:{_STEP_WORDS})\b", re.MULTILINE)
_TRIGGER = re.compile(r"\bwhen\s+event\s+([A-Za-z_]\w*)")
_EVENT_NAMED = re.compile(r"\bevent\s+([A-Za-z_]\w*)")
_FRAMEWORK_REF = re.compile(r"^[ \t]*framework[ \t]+([A-Za-z_]\w*)[ \t]*(?:#.*)?$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Region:
    """A stretch of the document: `text`, which starts at offset `start`."""

    text: str
    start: int


def word_before(text: str) -> str:
    """The part of a name typed just before the cursor ('' after a space or a dot)."""
    found = _WORD_END.search(text)
    return found.group(0) if found else ""


def word_at(line: str, col: int) -> tuple[int, int] | None:
    """The [start, end) columns (from 0) of the name under or just before `col`."""
    for m in WORD.finditer(line):
        if m.start() <= col <= m.end():
            return m.start(), m.end()
    return None


def string_at(line: str, col: int) -> tuple[int, int] | None:
    """The [start, end) columns of the string content around `col`: after the opening quote,
    up to the closing one (or the end of the line while it is still being typed)."""
    opened: int | None = None
    escaped = False
    for i, ch in enumerate(line):
        if opened is not None and escaped:
            escaped = False
        elif opened is not None and ch == "\\":
            escaped = True
        elif ch == '"' and opened is None:
            opened = i + 1
        elif ch == '"' and opened is not None:
            if opened <= col <= i:
                return opened, i
            opened = None
        elif ch == "#" and opened is None and i < col:
            return None  # a comment: no string reaches the cursor
    if opened is not None and opened <= col:
        return opened, len(line)
    return None


def playbook_at(text: str, offset: int) -> Region | None:
    """The playbook the cursor is in: from its `playbook NAME {` to the matching `}` (or the
    end of the file while that brace is still missing)."""
    opening = None
    for m in _PLAYBOOK_START.finditer(text, 0, offset):
        opening = m
    if opening is None:
        return None
    end = _block_end(text, opening.end() - 1)
    if end < offset:
        return None
    return Region(text=text[opening.start():end], start=opening.start())


def _block_end(text: str, brace: int) -> int:
    """The offset just after the `}` that closes the `{` at `brace`; strings and comments
    are skipped."""
    depth = 0
    i = brace
    while i < len(text):
        ch = text[i]
        if ch == "#":
            i = _line_end(text, i)
            continue
        if ch == '"':
            i = _string_end(text, i)
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth == 0:
            return i + 1
        i += 1
    return len(text)


def _line_end(text: str, i: int) -> int:
    end = text.find("\n", i)
    return len(text) if end < 0 else end


def _string_end(text: str, i: int) -> int:
    """Just after the string that opens at `i`; strings never span lines."""
    j = i + 1
    while j < len(text) and text[j] not in '"\n':
        j += 2 if text[j] == "\\" else 1
    return min(j + 1, len(text))


def labels(region: Region) -> dict[str, int]:
    """Step labels of a playbook -> the offset of each label in the document."""
    return {m.group(1): region.start + m.start(1) for m in _LABEL.finditer(region.text)}


def event_in_scope(text: str, offset: int) -> str | None:
    """The event `event.` refers to at the cursor: one named earlier in the same statement
    (`wait for event x where event.`), else the playbook's trigger (`when event x`)."""
    line_start = text.rfind("\n", 0, offset) + 1
    named = _EVENT_NAMED.findall(text[line_start:offset])
    if named:
        return str(named[-1])
    region = playbook_at(text, offset)
    if region is None:
        return None
    found = _TRIGGER.search(region.text)
    return found.group(1) if found else None


def framework_of(text: str, offset: int) -> str | None:
    region = playbook_at(text, offset)
    found = None if region is None else _FRAMEWORK_REF.search(region.text)
    return found.group(1) if found else None
