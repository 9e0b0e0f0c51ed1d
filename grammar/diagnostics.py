"""One diagnostic type for every stage, rendered in one place.

Text form (what a terminal and a CI log show)::

    playbooks/cart.play:12:9: error[E012]: unknown step 'nuge' — did you mean 'nudge'?
       |
    12 |   goto nuge
       |        ^^^^
       = help: goto names a step label of the same playbook.

The same data is available as JSON for tools (`--format json`).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Span:
    """A region of a source file; lines and columns count from 1, the end is exclusive."""

    line: int
    col: int
    end_line: int
    end_col: int

    @staticmethod
    def point(line: int, col: int) -> Span:
        return Span(line=line, col=col, end_line=line, end_col=col + 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Diagnostic:
    code: str
    message: str
    file: str
    span: Span
    hint: str = ""
    severity: Severity = "error"
    related: tuple[tuple[str, Span], ...] = field(default=())

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file, self.span.line, self.span.col, self.code)

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "file": self.file,
            "line": self.span.line,
            "col": self.span.col,
            "end_line": self.span.end_line,
            "end_col": self.span.end_col,
            "hint": self.hint,
            "related": [
                {"file": f, "line": s.line, "col": s.col} for f, s in self.related
            ],
        }


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """End a sentence: " — did you mean 'x'?" for the closest candidate, else a full stop."""
    options = sorted(set(candidates))
    # 'C1' for 'c1': too short for difflib's similarity, and the likeliest slip of all.
    same = [c for c in options if c != name and c.casefold() == name.casefold()]
    matches = same or difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    return f" — did you mean '{matches[0]}'?" if matches else "."


def render_text(diagnostic: Diagnostic, source_lines: Sequence[str] | None) -> str:
    """Render one diagnostic with the source line and a caret under its span."""
    d, s = diagnostic, diagnostic.span
    head = f"{d.file}:{s.line}:{s.col}: {d.severity}[{d.code}]: {d.message}"
    out = [head]
    if source_lines is not None and 1 <= s.line <= len(source_lines):
        text = source_lines[s.line - 1].rstrip("\r\n").expandtabs(1)
        width = len(str(s.line))
        end = s.end_col if s.end_line == s.line and s.end_col > s.col else s.col + 1
        end = min(max(end, s.col + 1), max(len(text) + 1, s.col + 1))
        gutter = " " * width
        out.append(f"{gutter} |")
        out.append(f"{s.line} | {text}")
        out.append(f"{gutter} | {' ' * (s.col - 1)}{'^' * (end - s.col)}")
    for file, span in d.related:
        out.append(f"  note: see {file}:{span.line}:{span.col}")
    if d.hint:
        out.append(f"  = help: {d.hint}")
    return "\n".join(out)


def render_all_text(
    diagnostics: Sequence[Diagnostic], sources: dict[str, str]
) -> str:
    lines_of = {name: text.splitlines() for name, text in sources.items()}
    blocks = [render_text(d, lines_of.get(d.file)) for d in diagnostics]
    return "\n\n".join(blocks)


def render_json(diagnostics: Sequence[Diagnostic]) -> str:
    return json.dumps([d.as_dict() for d in diagnostics], indent=2, ensure_ascii=False)


def summary(diagnostics: Sequence[Diagnostic]) -> str:
    errors = sum(1 for d in diagnostics if d.is_error)
    warnings = len(diagnostics) - errors
    return f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
