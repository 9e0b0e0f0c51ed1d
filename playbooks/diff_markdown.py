"""A diff as one pull-request comment: the plan, a Mermaid graph of HEAD, within 65,536 chars.

Long sections fold into `<details>`; when the whole comment would not fit, graphs give way
first (largest first, each replaced by the command that draws it), then trailing sections.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cadenza.playbooks import model as m
from cadenza.playbooks.diff_model import PlaybookDiff, ProjectDiff
from cadenza.playbooks.diff_render import line_text, note_text, playbook_text
from cadenza.playbooks.render import mermaid

LIMIT = 65_536  # GitHub's limit for one comment
FOLD_LINES = 25


@dataclass(frozen=True)
class Section:
    text: str
    graph: str = ""  # a folded Mermaid block, dropped first when the comment is too long
    graph_name: str = ""


def fold(summary: str, body: str, *, lines: int | None = None) -> str:
    if (lines if lines is not None else body.count("\n")) <= FOLD_LINES:
        return body
    return f"<details><summary>{summary}</summary>\n\n{body}\n\n</details>"


def _block(lines: list[str], summary: str) -> str:
    body = "```diff\n" + "\n".join(lines) + "\n```"
    return fold(summary, body, lines=len(lines))


def _graph(p: PlaybookDiff, head: m.Project) -> str:
    pb = head.playbooks[p.name]
    picture = mermaid(pb, head.frameworks, highlight=p.highlight).rstrip("\n")
    note = " (changed steps outlined)" if p.highlight else ""
    return (f"<details><summary>Graph of <code>{p.name}</code> at HEAD{note}</summary>\n\n"
            f"```mermaid\n{picture}\n```\n\n</details>")


def _playbook_section(p: PlaybookDiff, head: m.Project | None) -> Section:
    lines = playbook_text(p)
    text = _block(lines, f"{len(lines) - 1} changes in <code>{p.name}</code>")
    if p.mark == "-" or head is None:
        return Section(text)
    return Section(text, _graph(p, head), p.name)


def _sections(diff: ProjectDiff, head: m.Project | None, extra: Sequence[str]) -> list[Section]:
    out = [_playbook_section(p, head) for p in diff.playbooks]
    if diff.project:
        lines = [x for line in diff.project for x in line_text(line)]
        out.append(Section("#### Project\n\n" + _block(lines, f"{len(diff.project)} changes")))
    if diff.notes:
        notes = "\n".join(f"- {note_text(n).removeprefix('! ')}" for n in diff.notes)
        out.append(Section("#### Warnings\n\n" + fold(f"{len(diff.notes)} warnings", notes)))
    out += [Section(x) for x in extra]
    return out


def _join(header: str, sections: Sequence[Section], graphs: set[str]) -> str:
    parts = [header]
    for s in sections:
        parts.append(s.text)
        if s.graph and s.graph_name in graphs:
            parts.append(s.graph)
        elif s.graph:
            parts.append(f"_Graph left out to fit one comment: run `cadenza graph "
                         f"{s.graph_name}` in the project to draw it._")
    return "\n\n".join(parts) + "\n"


def render_markdown(diff: ProjectDiff, head: m.Project | None,
                    extra: Sequence[str] = (), limit: int = LIMIT) -> str:
    header = f"### Cadenza diff: `{diff.base}` → `{diff.head}`\n\n**{diff.summary()}**"
    sections = _sections(diff, head, extra)
    graphs = {s.graph_name for s in sections if s.graph}
    text = _join(header, sections, graphs)
    for s in sorted((s for s in sections if s.graph), key=lambda s: -len(s.graph)):
        if len(text) <= limit:
            return text
        graphs.discard(s.graph_name)
        text = _join(header, sections, graphs)
    return _cut(header, sections, limit)


def _cut(header: str, sections: list[Section], limit: int) -> str:
    """Whole sections from the top while they fit, then a sentence saying what is missing."""
    kept: list[Section] = []
    for i, s in enumerate(sections):
        rest = len(sections) - i
        tail = (f"\n_{rest} more section(s) left out to fit one comment ({LIMIT:,} "
                "characters); run `cadenza diff` locally to see everything._\n")
        if len(_join(header, [*kept, s], set())) + len(tail) > limit:
            return _join(header, kept, set()) + tail
        kept.append(s)
    return _join(header, kept, set())
