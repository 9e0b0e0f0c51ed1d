"""Checks on the shape of a playbook's graph: reachability, endings, loops without a wait."""

from __future__ import annotations

from collections.abc import Callable

from cadenza.grammar.diagnostics import Span
from cadenza.playbooks import model as m
from cadenza.playbooks.report import Reporter

SpanOf = Callable[[str], Span]


def edges_of(steps: dict[str, m.Step]) -> dict[str, list[str | None]]:
    return {sid: [t for t in m.successors(s) if t is None or t in steps]
            for sid, s in steps.items()}


def reachable(start: str | None, edges: dict[str, list[str | None]]) -> set[str]:
    seen: set[str] = set()
    stack = [start] if start is not None else []
    while stack:
        sid = stack.pop()
        if sid is None or sid in seen:
            continue
        seen.add(sid)
        stack.extend(t for t in edges[sid] if t is not None)
    return seen


def _can_end(edges: dict[str, list[str | None]]) -> set[str]:
    """Steps from which the end is reachable (a fixed point over reversed edges)."""
    ending = {sid for sid, ts in edges.items() if None in ts}
    changed = True
    while changed:
        changed = False
        for sid, ts in edges.items():
            if sid not in ending and any(t in ending for t in ts if t is not None):
                ending.add(sid)
                changed = True
    return ending


def _waitless_cycle(steps: dict[str, m.Step], edges: dict[str, list[str | None]],
                    ) -> list[str] | None:
    """A cycle made only of steps that are not waits, if there is one (iterative DFS).

    `wait until ATTRIBUTE` does not count as a wait here: once the date has passed it goes on
    at once, so a loop whose only wait it is would repeat (and send) without pause."""
    nodes = [sid for sid, s in steps.items()
             if s.kind not in m.WAIT_KINDS or isinstance(s, m.WaitUntilAttrStep)]
    inner = {sid: [t for t in edges[sid] if t is not None and t in nodes] for sid in nodes}
    color = dict.fromkeys(nodes, 0)
    for root in nodes:
        if color[root]:
            continue
        path: list[str] = []
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            sid, i = stack.pop()
            if i == 0:
                color[sid] = 1
                path.append(sid)
            if i < len(inner[sid]):
                stack.append((sid, i + 1))
                nxt = inner[sid][i]
                if color[nxt] == 1:
                    return path[path.index(nxt):]
                if color[nxt] == 0:
                    stack.append((nxt, 0))
            else:
                color[sid] = 2
                path.pop()
    return None


def _dead_runs(steps: tuple[m.Step, ...], live: set[str]) -> list[tuple[str, int]]:
    """Unreachable steps as runs of neighbours in the file: one report per run."""
    runs: list[tuple[str, int]] = []
    for i, s in enumerate(steps):
        if s.id in live:
            continue
        if i > 0 and steps[i - 1].id not in live:
            first, count = runs[-1]
            runs[-1] = (first, count + 1)
        else:
            runs.append((s.id, 1))
    return runs


def check_flow(pb: m.Playbook, span_of: SpanOf, rep: Reporter) -> None:
    steps = {s.id: s for s in pb.steps}
    if not steps:
        return
    edges = edges_of(steps)
    live = reachable(pb.start, edges)
    for first, count in _dead_runs(pb.steps, live):
        more = {1: "", 2: ", nor the step after it"}.get(count, f", nor the {count - 1} "
                                                                "steps after it")
        rep.error("E030", pb.file, span_of(first),
                  f"step '{first}' can never be reached{more}.",
                  hint="jump to it (goto, branch, split, else ->) or remove it; an "
                       "'end' or 'goto' just before it stops control falling through.")
    cycle = _waitless_cycle(steps, edges)
    if cycle is not None:
        shown = " -> ".join([*cycle, cycle[0]])
        dated = [sid for sid in cycle if isinstance(steps[sid], m.WaitUntilAttrStep)]
        if dated:
            rep.error("E032", pb.file, span_of(cycle[0]),
                      f"the loop {shown} waits only at '{dated[0]}', a 'wait until' a date "
                      "attribute, which does not pause once the date has passed, so the loop "
                      "would repeat without pause.",
                      hint="put a 'wait 1d', a 'wait until 09:00' or a 'wait for event ... "
                           "timeout' inside the loop as well.")
        else:
            rep.error("E032", pb.file, span_of(cycle[0]),
                      f"the loop {shown} has no wait in it, so it would repeat without pause.",
                      hint="put a 'wait' step inside the loop, or end it.")
    if pb.exits:
        return  # an exit rule can end any path, loops included
    ending = _can_end(edges)
    stuck = [s.id for s in pb.steps if s.id in live and s.id not in ending]
    if stuck and cycle is None:
        rep.error("E031", pb.file, span_of(stuck[0]),
                  f"from step '{stuck[0]}' no path ever ends: customers would stay in this "
                  "playbook forever.",
                  hint="add an 'end' on some path, or an 'exit when ...' rule.")
