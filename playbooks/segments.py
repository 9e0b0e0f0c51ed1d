"""Segment-level checks that need every segment at once."""

from __future__ import annotations

from cadenza.grammar import ast
from cadenza.playbooks.report import Reporter


def referenced(c: ast.Cond) -> list[ast.Ident]:
    """Segment names a condition refers to, in order (iteratively: conditions can be deep)."""
    out: list[ast.Ident] = []
    stack: list[ast.Cond] = [c]
    while stack:
        node = stack.pop()
        match node:
            case ast.Or() | ast.And():
                stack.extend(reversed(node.items))
            case ast.Not():
                stack.append(node.item)
            case ast.SegmentRef():
                out.append(node.name)
            case _:
                pass
    return out


def check_segment_cycles(decls: list[tuple[str, ast.SegmentDecl]], rep: Reporter) -> None:
    refs = {d.name.name: referenced(d.cond) for _, d in decls}
    for file, d in decls:
        path = _cycle_from(d.name.name, refs)
        if path is not None:
            shown = " -> ".join(path)
            rep.error("E043", file, d.name.span,
                      f"segment '{d.name.name}' is defined through itself: {shown}.",
                      hint="a segment may use other segments, but not in a circle.")


def _cycle_from(start: str, refs: dict[str, list[ast.Ident]]) -> list[str] | None:
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        name, path = stack.pop()
        for ref in refs.get(name, []):
            if ref.name == start:
                return [*path, start]
            if ref.name not in seen:
                seen.add(ref.name)
                stack.append((ref.name, [*path, ref.name]))
    return None
