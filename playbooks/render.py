"""A playbook as a picture: Mermaid (GitHub renders it in a pull request) or Graphviz DOT."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from cadenza.playbooks import describe as d
from cadenza.playbooks import model as m

PALETTE = ("#dbeafe", "#dcfce7", "#fef9c3", "#fee2e2", "#ede9fe", "#ffedd5", "#cffafe")
END = "__end"


def _node_id(step_id: str | None) -> str:
    return END if step_id is None else "s_" + re.sub(r"[^A-Za-z0-9_]", "_", step_id)


def _label(s: m.Step) -> str:
    text = f"{s.id}: {d.step(s)}"
    stage = getattr(s, "stage", None)
    return f"{text}\nstage {stage}" if stage else text


def edges(s: m.Step) -> list[tuple[str | None, str]]:
    """(target, label) pairs for every way out of a step."""
    match s:
        case m.BranchStep():
            arms: list[tuple[str | None, str]] = [(a.target, d.cond(a.cond)) for a in s.arms]
            return [*arms, (s.otherwise if s.otherwise is not None else s.next, "else")]
        case m.SplitStep():
            parts: list[tuple[str | None, str]] = [(a.target, f"{a.percent:g}%") for a in s.arms]
            return [*parts, (None, f"holdout {s.holdout:g}%")] if s.holdout else parts
        case m.WaitEventStep():
            timeout = s.on_timeout if s.on_timeout is not None else s.next
            return [(s.next, s.event), (timeout, f"timeout {d.duration(s.timeout_s)}")]
        case _:
            return [(t, "") for t in m.successors(s)]


def _stage_colours(pb: m.Playbook, frameworks: dict[str, m.Framework]) -> dict[str, str]:
    fw = frameworks.get(pb.framework or "")
    stages = list(fw.stages) if fw else sorted({getattr(s, "stage", None) or ""
                                                for s in pb.steps} - {""})
    return {st: PALETTE[i % len(PALETTE)] for i, st in enumerate(stages)}


RULES = "rules"


def _rules(pb: m.Playbook) -> str | None:
    """Exits and goals hold at every step, so they are one note beside the graph, not edges:
    a reviewer sees what ends a journey early and what counts as success."""
    lines = [d.exit_rule(x) for x in pb.exits] + [d.goal(g) for g in pb.goals]
    return "\n".join(lines) if lines else None


def _mermaid_text(text: str) -> str:
    escaped = text.replace("&", "#amp;").replace('"', "#quot;")
    escaped = escaped.replace("<", "#lt;").replace(">", "#gt;")
    return escaped.replace("\n", "<br/>")


def _shape(s: m.Step, label: str) -> str:
    if s.kind in m.WAIT_KINDS:
        return f'(["{label}"])'
    if s.kind in ("branch", "split"):
        return f'{{"{label}"}}'
    return f'["{label}"]'


def mermaid(pb: m.Playbook, frameworks: dict[str, m.Framework],
            highlight: Iterable[str] = ()) -> str:
    lines = ["flowchart TD"]
    for i, e in enumerate(pb.entries):
        lines.append(f'  entry{i}[/"{_mermaid_text(d.entry(e))}"/]')
        lines.append(f"  entry{i} --> {_node_id(pb.start)}")
    for s in pb.steps:
        lines.append(f"  {_node_id(s.id)}{_shape(s, _mermaid_text(_label(s)))}")
    lines.append(f"  {END}((\"end\"))")  # quoted: a bare `end` can close a Mermaid block
    if (rules := _rules(pb)) is not None:
        lines.append(f'  {RULES}>"{_mermaid_text(rules)}"]')
    for s in pb.steps:
        for t, text in edges(s):
            arrow = f'-->|"{_mermaid_text(text)}"|' if text else "-->"
            lines.append(f"  {_node_id(s.id)} {arrow} {_node_id(t)}")
    lines.extend(_mermaid_classes(pb, frameworks, set(highlight)))
    return "\n".join(lines) + "\n"


def _mermaid_classes(pb: m.Playbook, frameworks: dict[str, m.Framework],
                     highlight: set[str]) -> list[str]:
    colours = _stage_colours(pb, frameworks)
    out = [f"  classDef stage_{st} fill:{c},stroke:#555" for st, c in colours.items()]
    for s in pb.steps:
        stage = getattr(s, "stage", None)
        if stage in colours:
            out.append(f"  class {_node_id(s.id)} stage_{stage}")
    if highlight:
        out.append("  classDef changed stroke:#d97706,stroke-width:4px")
        ids = ",".join(_node_id(h) for h in sorted(highlight))
        out.append(f"  class {ids} changed")
    return out


def _dot_text(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def dot(pb: m.Playbook, frameworks: dict[str, m.Framework]) -> str:
    colours = _stage_colours(pb, frameworks)
    lines = [f"digraph {_dot_text(pb.name)} {{", "  rankdir=TB;",
             '  node [fontname="Helvetica", shape=box, style="rounded,filled", '
             'fillcolor="#ffffff"];']
    for i, e in enumerate(pb.entries):
        lines.append(f"  entry{i} [label={_dot_text(d.entry(e))}, shape=parallelogram];")
        lines.append(f"  entry{i} -> {_node_id(pb.start)};")
    for s in pb.steps:
        shape = "diamond" if s.kind in ("branch", "split") else (
            "ellipse" if s.kind in m.WAIT_KINDS else "box")
        fill = colours.get(getattr(s, "stage", None) or "", "#ffffff")
        lines.append(f"  {_node_id(s.id)} [label={_dot_text(_label(s))}, shape={shape}, "
                     f'fillcolor="{fill}"];')
    lines.append(f'  {END} [label="end", shape=doublecircle];')
    if (rules := _rules(pb)) is not None:
        lines.append(f"  {RULES} [label={_dot_text(rules)}, shape=note];")
    for s in pb.steps:
        for t, text in edges(s):
            label = f" [label={_dot_text(text)}]" if text else ""
            lines.append(f"  {_node_id(s.id)} -> {_node_id(t)}{label};")
    lines.append("}")
    return "\n".join(lines) + "\n"
