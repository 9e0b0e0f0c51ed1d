"""Find `#` comments without the parser: strings never span lines, so a line scan suffices."""

from __future__ import annotations

from cadenza.grammar.ast import Comment


def _comment_start(line: str) -> int:
    in_string = False
    escaped = False
    for i, ch in enumerate(line):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "#":
            return i
    return -1


def scan_comments(text: str) -> tuple[Comment, ...]:
    found: list[Comment] = []
    # Lark counts lines by "\n" only; splitlines() would also split on \f, \x85, \u2028 ...
    for number, line in enumerate(text.split("\n"), start=1):
        if "#" not in line:  # most lines: skip the character-by-character scan
            continue
        start = _comment_start(line)
        if start >= 0:
            found.append(Comment(text=line[start:].rstrip(), line=number, col=start + 1))
    return tuple(found)
