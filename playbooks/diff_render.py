"""A diff as a Terraform-like plan (text) or as stable JSON for tools.

    ~ playbook cart_recovery  # cart_recovery.play:8, on change pin
        ~ step reminder.2: wait 1d -> wait 2d  # cart_recovery.play:24
            duration: 1d -> 2d
    Diff: 0 to add, 1 to change, 0 to remove. Steps: 0 added, 1 changed (0 renamed), 0 removed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from cadenza.playbooks.diff_model import Line, Note, PlaybookDiff, ProjectDiff

SET_KEYS = ("entry ", "exit ")
DECLARED = "declared"  # the value of a schema event's own fact: its name says it all


def _what(x: Line) -> str:
    name = next((k.strip() for k in SET_KEYS if x.name.startswith(k)), x.name)
    if x.kind == "step":
        name = f"step {x.name}"
    elif x.kind in ("template", "segment", "framework", "project"):
        name = f"{x.kind} {x.name}"
    elif x.kind == "schema":
        name = f"schema {x.name}"
    if x.mark == "+":
        return f"{name}: {x.after}" if x.after not in ("", DECLARED) else name
    if x.mark == "-":
        return f"{name}: {x.before}" if x.before not in ("", DECLARED) else name
    if x.renamed_from is not None:
        rest = f" -> {x.after}" if x.before != x.after else ""
        return f"{name} (renamed from {x.renamed_from}): {x.before}{rest}"
    if x.before == x.after or not (x.before or x.after):
        return f"{name}: {x.after}" if x.after else name
    return f"{name}: {x.before} -> {x.after}"


def line_text(x: Line, indent: str = "") -> list[str]:
    """The line and its details, indented under it."""
    at = "" if not x.where else f"  # {x.where}{' at BASE' if x.mark == '-' else ''}"
    return [f"{indent}{x.mark} {_what(x)}{at}", *(f"{indent}    {d}" for d in x.details)]


def playbook_head(p: PlaybookDiff) -> str:
    state = {"+": "new", "-": "removed", "~": "changed"}[p.mark]
    at = f"{p.where} at BASE" if p.mark == "-" else p.where
    return f"{p.mark} playbook {p.name}  # {state}, {at}, on change {p.policy}"


def playbook_text(p: PlaybookDiff) -> list[str]:
    out = [playbook_head(p)]
    for x in p.lines:
        out += line_text(x, "    ")
    return out


def note_text(n: Note) -> str:
    also = f"; see also {', '.join(n.related)}" if n.related else ""
    label = "new conflict" if n.kind == "conflict" else "changed segment"
    code = f" {n.code}" if n.kind == "conflict" else ""
    return f"! {label}{code}: {n.message}  # {n.where}{also}"


def render_text(diff: ProjectDiff, extra: Iterable[str] = ()) -> str:
    out = [f"cadenza diff {diff.base} -> {diff.head}"]
    if not diff.empty:
        out.append("")
    for p in diff.playbooks:
        out += playbook_text(p)
    for x in diff.project:
        out += line_text(x)
    if diff.notes:
        out += ["", *(note_text(n) for n in diff.notes)]
    out += [x for block in extra for x in ("", block.rstrip("\n"))]
    out += ["", diff.summary()]
    return "\n".join(out) + "\n"


def render_json(diff: ProjectDiff, impact: dict[str, Any] | None = None) -> str:
    data = diff.as_json()
    data["impact"] = impact or {}
    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
