"""W043: a bound event's property used where it can never be set.

`wait for event E as NAME` sets `NAME.x` for the steps after it once the event has arrived;
before the wait, and on its timeout path, `NAME.x` is not set. A step that no path reaches
through such a wait with the event arrived always sees it unset: a condition on it is never
true, an `update` from it clears the attribute, a message shows nothing there. That is always
a mistake (the step is usually above the wait), so it is reported.
"""

from __future__ import annotations

from collections.abc import Mapping

from cadenza.playbooks import model as m
from cadenza.playbooks.flow import SpanOf, edges_of, reachable
from cadenza.playbooks.report import Reporter
from cadenza.playbooks.templates import analyse


def check_bindings(pb: m.Playbook, templates: Mapping[str, m.Template], span_of: SpanOf,
                   rep: Reporter) -> None:
    steps = {s.id: s for s in pb.steps}
    edges = edges_of(steps)
    binders: dict[str, list[m.WaitEventStep]] = {}
    for s in pb.steps:
        if isinstance(s, m.WaitEventStep) and s.bind is not None:
            binders.setdefault(s.bind, []).append(s)
    if not binders:
        return
    live = reachable(pb.start, edges)
    bound_at = {name: set().union(*(reachable(w.next, edges) for w in waits))
                for name, waits in binders.items()}
    for s in pb.steps:
        if s.id not in live:
            continue  # E030 already says it
        for name in sorted(_bound_uses(s, templates) & set(binders)):
            if s.id in bound_at[name]:
                continue
            wait = binders[name][0]
            rep.warning("W043", pb.file, span_of(s.id),
                        f"step '{s.id}' uses '{name}', which is never set here: no path to it "
                        f"passes 'wait for event {wait.event} as {name}' (line "
                        f"{span_of(wait.id).line}) with the event arrived.",
                        hint=f"move this step below that wait (on the path taken when "
                             f"'{wait.event}' arrives), or use a customer attribute.")


def _bound_uses(step: m.Step, templates: Mapping[str, m.Template]) -> set[str]:
    names = {r.var for r in m.nodes_of(step, m.Ref) if r.scope == "bound"}
    for source in _texts(step, templates):
        paths, _ = analyse(source)
        names.update(p.split(".")[0] for p in paths if "." in p)
    return names


def _texts(step: m.Step, templates: Mapping[str, m.Template]) -> list[str]:
    if isinstance(step, m.TaskStep):
        return [step.title, *([step.queue] if step.queue else [])]
    if not isinstance(step, m.SendStep):
        return []
    if step.text is not None:
        return [step.text, *([step.subject] if step.subject else [])]
    t = templates.get(step.template or "")
    return [] if t is None else [t.body, *([t.subject] if t.subject else [])]
