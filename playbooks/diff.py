"""A semantic diff of two compiled projects: what changed in the graphs, never in the text.

Playbooks are compared by name, steps by structure (see diff_match), everything else fact by
fact (see diff_facts). Positions, layout, comments and declaration order are not meaning, so a
change that only reformats or reorders gives an empty diff ("No semantic change.").
"""

from __future__ import annotations

from collections.abc import Iterator

from cadenza.playbooks import describe as d
from cadenza.playbooks import model as m
from cadenza.playbooks.diff_facts import (
    Rename,
    change_text,
    compare,
    end_or,
    playbook_facts,
    step_facts,
)
from cadenza.playbooks.diff_match import match_steps
from cadenza.playbooks.diff_model import Line, PlaybookDiff, ProjectDiff
from cadenza.playbooks.diff_notes import notes
from cadenza.playbooks.diff_project import (
    Where,
    mark_of,
    playbook_line,
    segment_lines,
    setting_lines,
    template_lines,
    where_in,
)


def _step_where(pb: m.Playbook, sid: str, where: Where) -> str:
    loc = pb.locations.get(sid)
    return where(pb.file, 1) if loc is None else where(loc.file, loc.line)


def _details(diffs: list[tuple[str, str, str]]) -> tuple[str, ...]:
    return tuple(f"{k}: {a or '-'} -> {b or '-'}" for k, a, b in diffs if k != "kind")


def step_lines(old: m.Playbook, new: m.Playbook, pairs: dict[str, str],
               wheres: tuple[Where, Where]) -> list[Line]:
    """HEAD's steps in file order, each removed step after the step it used to follow."""
    was, where = wheres
    back = {n: o for o, n in pairs.items()}

    def rename(target: str | None) -> str:
        return end_or(None if target is None else pairs.get(target, target))

    removed = _removed_after(old, pairs)
    out = [_gone(old, sid, was) for sid in removed.get(None, [])]
    for s in new.steps:
        oid = back.get(s.id)
        line = _came(new, s, where) if oid is None else _changed(old.step(oid), s, rename,
                                                                    _step_where(new, s.id, where))
        if line is not None:
            out.append(line)
        if oid is not None:
            out += [_gone(old, sid, was) for sid in removed.get(oid, [])]
    return out


def _removed_after(old: m.Playbook, pairs: dict[str, str]) -> dict[str | None, list[str]]:
    """Removed steps, keyed by the nearest matched BASE step above them (None: the top)."""
    out: dict[str | None, list[str]] = {}
    anchor: str | None = None
    for s in old.steps:
        if s.id in pairs:
            anchor = s.id
        else:
            out.setdefault(anchor, []).append(s.id)
    return out


def _gone(old: m.Playbook, sid: str, where: Where) -> Line:
    return Line("-", "step", sid, before=d.step(old.step(sid)),
                where=_step_where(old, sid, where))


def _came(new: m.Playbook, s: m.Step, where: Where) -> Line:
    return Line("+", "step", s.id, after=d.step(s), where=_step_where(new, s.id, where))


def _changed(a: m.Step, b: m.Step, rename: Rename, where: str) -> Line | None:
    diffs = compare(step_facts(a, rename), step_facts(b, end_or))
    if not diffs and a.id == b.id:
        return None
    return Line("~", "step", b.id, d.step(a), d.step(b), where,
                renamed_from=None if a.id == b.id else a.id, details=_details(diffs))


def _setting_lines(old: m.Playbook, new: m.Playbook, pairs: dict[str, str]) -> list[Line]:
    before, after = playbook_facts(old), playbook_facts(new)
    before["first step"] = end_or(pairs.get(old.start or "", old.start))
    after["first step"] = end_or(new.start)
    return [Line(mark_of(a, b), "setting", k, a, b) for k, a, b in compare(before, after)]


POSITIONS = frozenset({"file", "locations", "positions"})


def same_meaning(old: m.Playbook, new: m.Playbook) -> bool:
    """Equal but for positions: the common case, decided without building any facts."""
    return all(getattr(old, f) == getattr(new, f) for f in type(old).model_fields
               if f not in POSITIONS)


def playbook_diff(old: m.Playbook | None, new: m.Playbook | None,
                  base_where: Where, head_where: Where) -> PlaybookDiff | None:
    if new is None:
        assert old is not None
        return PlaybookDiff("-", old.name, base_where(old.file, playbook_line(old)),
                            change_text(old.change))
    if old is not None and same_meaning(old, new):
        return None
    where = head_where(new.file, playbook_line(new))
    if old is None:
        steps = tuple(_came(new, s, head_where) for s in new.steps)
        return PlaybookDiff("+", new.name, where, change_text(new.change), steps)
    pairs = match_steps(old, new)
    lines = (*_setting_lines(old, new, pairs),
             *step_lines(old, new, pairs, (base_where, head_where)))
    if not lines:
        return None
    marked = tuple(x.name for x in lines if x.kind == "step" and x.mark != "-")
    return PlaybookDiff("~", new.name, where, change_text(new.change), lines, marked)


def _playbooks(base: m.Project, head: m.Project, base_where: Where,
               head_where: Where) -> Iterator[PlaybookDiff]:
    names = list(head.playbooks) + [n for n in base.playbooks if n not in head.playbooks]
    for name in names:
        found = playbook_diff(base.playbooks.get(name), head.playbooks.get(name),
                              base_where, head_where)
        if found is not None:
            yield found


def diff_projects(base: m.Project, head: m.Project, *, base_label: str = "BASE",
                  head_label: str = "HEAD") -> ProjectDiff:
    bw, hw = where_in(base.root), where_in(head.root)
    project = (*template_lines(base, head, bw, hw), *segment_lines(base, head, bw, hw),
               *setting_lines(base, head))
    playbooks = tuple(_playbooks(base, head, bw, hw))
    return ProjectDiff(playbooks=playbooks, project=project,
                       notes=notes(base, head, project, hw),
                       base=base_label, head=head_label, root=head.root)
