"""Warnings a change brings: cross-playbook conflicts new in HEAD, and changed shared segments.

A conflict is new when HEAD has it and BASE has none with the same code and message (file
positions move with any edit, so they are not part of the comparison). A playbook using a
segment whose definition changed reaches other customers although its own text is untouched.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from cadenza.grammar.diagnostics import Diagnostic
from cadenza.playbooks import model as m
from cadenza.playbooks.conflicts import find_conflicts
from cadenza.playbooks.diff_model import Line, Note
from cadenza.playbooks.diff_project import Where, playbook_line, segment_refs

SEGMENT_NOTE = "changed-segment"


def _plain(message: str, root: str) -> str:
    """The message without the project's own folder, which differs between BASE and HEAD."""
    return message.replace(root.rstrip(os.sep) + os.sep, "") if root else message


def new_conflicts(base: m.Project, head: m.Project, where: Where) -> Iterator[Note]:
    found = find_conflicts(head)
    if not found:  # nothing in HEAD, nothing new: spare the second run
        return
    seen = {(x.code, _plain(x.message, base.root)) for x in find_conflicts(base)}
    for x in found:
        message = _plain(x.message, head.root)
        if (x.code, message) not in seen:
            yield _note(x, message, where)


def _note(x: Diagnostic, message: str, where: Where) -> Note:
    return Note("conflict", x.code, message, where(x.file, x.span.line),
                tuple(where(f, span.line) for f, span in x.related))


def affected_segments(head: m.Project, changed: set[str]) -> dict[str, str]:
    """Changed segments and those defined through them: name -> the changed one behind it."""
    out = {name: name for name in changed}
    grew = True
    while grew:
        grew = False
        for name, seg in head.segments.items():
            if name in out:
                continue
            via = next((out[r] for r in segment_refs(seg.cond.model_dump()) if r in out), None)
            if via is not None:
                out[name] = via
                grew = True
    return out


def _uses(pb: m.Playbook, where: Where, line: int) -> Iterator[tuple[str, str]]:
    settings = pb.model_dump(exclude={"steps", "file", "locations", "positions"})
    for name in dict.fromkeys(segment_refs(settings)):
        yield name, where(pb.file, line)
    for s in pb.steps:
        loc = pb.locations.get(s.id)
        at = where(pb.file, line) if loc is None else where(loc.file, loc.line)
        for name in dict.fromkeys(segment_refs(s.model_dump())):
            yield name, at


def segment_notes(head: m.Project, project: Sequence[Line], where: Where) -> Iterator[Note]:
    changed = {x.name for x in project if x.kind == "segment" and x.mark == "~"}
    affected = affected_segments(head, changed)
    if not affected:
        return
    for pb in head.playbooks.values():
        for name, at in dict.fromkeys(_uses(pb, where, playbook_line(pb))):
            if name not in affected:
                continue
            via = "" if affected[name] == name else f" (through segment '{affected[name]}')"
            yield Note("segment", SEGMENT_NOTE,
                       f"playbook '{pb.name}' uses segment '{name}', whose definition changed "
                       f"in this diff{via}: it now reaches other customers although its own "
                       "text did not change.", at)


def notes(base: m.Project, head: m.Project, project: Sequence[Line],
          where: Where) -> tuple[Note, ...]:
    return (*new_conflicts(base, head, where), *segment_notes(head, project, where))
