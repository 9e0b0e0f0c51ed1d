"""What a semantic diff is made of: frozen records, rendered by diff_render and diff_markdown."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Mark = Literal["+", "~", "-"]


@dataclass(frozen=True)
class Line:
    """One changed thing: a step, a playbook setting, a template, a segment, a schema entry."""

    mark: Mark
    kind: str  # step, setting, template, segment, schema, framework, project
    name: str  # HEAD's name (BASE's when removed)
    before: str = ""
    after: str = ""
    where: str = ""  # file:line, HEAD's (BASE's when removed)
    renamed_from: str | None = None
    details: tuple[str, ...] = ()

    @property
    def base_name(self) -> str | None:
        """The name in BASE, or None for something added."""
        return None if self.mark == "+" else self.renamed_from or self.name


@dataclass(frozen=True)
class PlaybookDiff:
    mark: Mark
    name: str
    where: str
    policy: str  # the change policy that applies: HEAD's, or BASE's for a removed playbook
    lines: tuple[Line, ...] = ()
    highlight: tuple[str, ...] = ()  # HEAD step ids added, changed or renamed

    def steps(self) -> tuple[Line, ...]:
        return tuple(x for x in self.lines if x.kind == "step")


@dataclass(frozen=True)
class Note:
    """A warning the change brings: a new cross-playbook conflict, a changed shared segment."""

    kind: Literal["conflict", "segment"]
    code: str
    message: str
    where: str
    related: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProjectDiff:
    playbooks: tuple[PlaybookDiff, ...]
    project: tuple[Line, ...]
    notes: tuple[Note, ...] = ()
    base: str = "BASE"
    head: str = "HEAD"
    root: str = field(default="", compare=False)

    @property
    def empty(self) -> bool:
        return not self.playbooks and not self.project

    def totals(self) -> Counter[str]:
        """Playbooks and project-level things by mark, steps by mark and renames."""
        out: Counter[str] = Counter()
        for mark in (*(p.mark for p in self.playbooks), *(x.mark for x in self.project)):
            out[mark] += 1
        for pb in self.playbooks:
            for s in pb.steps():
                out["step" + s.mark] += 1
                out["renamed"] += s.renamed_from is not None
        return out

    def summary(self) -> str:
        if self.empty:
            return "No semantic change."
        t = self.totals()
        steps = (f" Steps: {t['step+']} added, {t['step~']} changed ({t['renamed']} renamed), "
                 f"{t['step-']} removed.")
        return (f"Diff: {t['+']} to add, {t['~']} to change, {t['-']} to remove."
                + (steps if any(t[k] for k in ("step+", "step~", "step-")) else ""))

    def as_json(self) -> dict[str, Any]:
        t = self.totals()
        return {"format": 1, "base": self.base, "head": self.head, "changed": not self.empty,
                "summary": {"add": t["+"], "change": t["~"], "remove": t["-"],
                            "steps": {"add": t["step+"], "change": t["step~"],
                                      "rename": t["renamed"], "remove": t["step-"]},
                            "text": self.summary()},
                "playbooks": [asdict(p) for p in self.playbooks],
                "project": [asdict(x) for x in self.project],
                "notes": [asdict(n) for n in self.notes]}
