"""Project-level changes: templates (by content), segments, schema, frameworks, time zone."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cadenza.playbooks import describe as d
from cadenza.playbooks import model as m
from cadenza.playbooks.diff_facts import Facts, compare
from cadenza.playbooks.diff_model import Line, Mark

Where = Callable[[str, int], str]


def where_in(root: str) -> Where:
    """file:line with the file relative to the project, the same for BASE and HEAD."""
    def where(file: str, line: int) -> str:
        rel = os.path.relpath(file, root) if root else file
        return f"{rel.replace(os.sep, '/')}:{line}"
    return where


def playbook_line(pb: m.Playbook) -> int:
    """The line of `playbook NAME` (the model keeps step positions only)."""
    try:
        text = Path(pb.file).read_text("utf-8-sig")
    except OSError:
        return 1
    found = re.search(rf"^[ \t]*playbook[ \t]+{re.escape(pb.name)}\b", text, re.MULTILINE)
    return 1 if found is None else text.count("\n", 0, found.start()) + 1


def mark_of(before: str, after: str) -> Mark:
    return "+" if not before else "-" if not after else "~"


def _short(text: str, width: int = 60) -> str:
    text = text.strip()
    return json_quote(text if len(text) <= width else text[:width - 1] + "…")


def json_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _senders(project: m.Project, template: str) -> str:
    uses = [f"{pb.name}.{s.id}" for pb in project.playbooks.values() for s in pb.steps
            if isinstance(s, m.SendStep) and s.template == template]
    return "sent by " + (", ".join(uses) if uses else "no step")


def _first_change(a: list[str], b: list[str], ops: list[Any]) -> str:
    """The first changed line that is not blank, as `old -> new`."""
    for _, i1, i2, j1, j2 in ops:
        olds = [x for x in a[i1:i2] if x.strip()]
        news = [x for x in b[j1:j2] if x.strip()]
        if olds or news:
            return (f"first: {_short(olds[0]) if olds else '(nothing)'} -> "
                    f"{_short(news[0]) if news else '(nothing)'}")
    return "only blank lines"


def _template_details(old: m.Template, new: m.Template, head: m.Project) -> tuple[str, ...]:
    out: list[str] = []
    if old.subject != new.subject:
        out.append(f"subject: {_short(old.subject or '-')} -> {_short(new.subject or '-')}")
    a, b = old.body.splitlines(), new.body.splitlines()
    if a != b:
        ops = [op for op in difflib.SequenceMatcher(a=a, b=b).get_opcodes() if op[0] != "equal"]
        gone = sum(i2 - i1 for _, i1, i2, _, _ in ops)
        came = sum(j2 - j1 for _, _, _, j1, j2 in ops)
        out.append(f"body: {gone} line(s) out, {came} in; {_first_change(a, b, ops)}")
    out.append(_senders(head, new.name))
    return tuple(out)


def template_lines(base: m.Project, head: m.Project, bw: Where, where: Where,
                   ) -> Iterator[Line]:
    for name in sorted({*base.templates, *head.templates}):
        old, new = base.templates.get(name), head.templates.get(name)
        if old is not None and new is not None:
            if (old.subject, old.body) != (new.subject, new.body):
                yield Line("~", "template", name, "", "", where(new.file, 1),
                           details=_template_details(old, new, head))
        elif new is not None:
            yield Line("+", "template", name, "", "", where(new.file, 1),
                       details=(_senders(head, name),))
        elif old is not None:
            yield Line("-", "template", name, "", "", bw(old.file, 1),
                       details=(_senders(base, name).replace("sent by", "was sent by"),))


def _segment_text(s: m.Segment | None) -> str:
    return "" if s is None else d.cond(s.cond)


def segment_lines(base: m.Project, head: m.Project, bw: Where, where: Where,
                  ) -> Iterator[Line]:
    for name in sorted({*base.segments, *head.segments}):
        old, new = base.segments.get(name), head.segments.get(name)
        before, after = _segment_text(old), _segment_text(new)
        titles = (old.title if old else "", new.title if new else "")
        if before != after or (old and new and titles[0] != titles[1]):
            at = where(new.location.file, new.location.line) if new is not None else bw(
                old.location.file, old.location.line) if old is not None else ""
            retitled = (f"title: {json_quote(titles[0])} -> {json_quote(titles[1])}",) if (
                old and new and titles[0] != titles[1]) else ()
            yield Line(mark_of(before, after), "segment", name, before, after, at,
                       details=retitled)


def _schema_facts(s: m.Schema) -> Facts:
    out: Facts = {f"customer.{k}": str(v) for k, v in s.customer.items()}
    for event, props in s.events.items():
        out[f"event {event}"] = "declared"
        out.update({f"event {event}.{k}": str(v) for k, v in props.items()})
    return out


def _framework_facts(p: m.Project) -> Facts:
    return {f"framework {n}": ", ".join(f.stages) for n, f in p.frameworks.items()}


def setting_lines(base: m.Project, head: m.Project) -> Iterator[Line]:
    """Schema entries, frameworks and the project time zone, fact by fact."""
    groups: list[tuple[str, Facts, Facts]] = [
        ("schema", _schema_facts(base.schema_), _schema_facts(head.schema_)),
        ("framework", _framework_facts(base), _framework_facts(head)),
        ("project", {"timezone": base.timezone}, {"timezone": head.timezone})]
    for kind, old, new in groups:
        for key, before, after in compare(old, new):
            yield Line(mark_of(before, after), kind, key.removeprefix("framework "),
                       before, after)


def segment_refs(data: Any) -> Iterator[str]:
    """Every segment a dumped condition, entry, exit, policy or step names."""
    if isinstance(data, dict):
        if data.get("kind") == "segment":
            yield str(data.get("name") or data.get("segment"))
        for v in data.values():
            yield from segment_refs(v)
    elif isinstance(data, list | tuple):
        for v in data:
            yield from segment_refs(v)
