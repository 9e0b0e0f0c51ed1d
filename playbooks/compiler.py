"""A project's parsed documents -> one validated `Project`, with every diagnostic found.

Names resolve across files, so declarations are gathered from all documents first; then
segments, defaults, playbooks and tests are compiled against them. A mistake never stops the
compiler: it records a diagnostic and goes on, so one run reports everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from cadenza.grammar import ast
from cadenza.grammar.diagnostics import Span
from cadenza.grammar.gcpause import gc_paused
from cadenza.playbooks import model as m
from cadenza.playbooks import policies as pol
from cadenza.playbooks.conditions import Scope, compile_cond
from cadenza.playbooks.frameworks import BUILTIN_FRAMEWORKS
from cadenza.playbooks.playbook import PolicyMap, ProjectContext, compile_playbook
from cadenza.playbooks.report import Reporter
from cadenza.playbooks.schema import build_schema
from cadenza.playbooks.segments import check_segment_cycles
from cadenza.playbooks.testspec import compile_test


@dataclass(frozen=True)
class ProjectInput:
    name: str
    root: str
    timezone: str
    documents: Sequence[ast.Document]
    templates: dict[str, m.Template] = field(default_factory=dict)


T = TypeVar("T")
Named = TypeVar("Named", ast.SegmentDecl, ast.FrameworkDecl, ast.Playbook)


def _decls(docs: Sequence[ast.Document], kind: type[T]) -> list[tuple[str, T]]:
    return [(d.file, i) for d in docs for i in d.items if isinstance(i, kind)]


def _unique(decls: list[tuple[str, Named]], what: str, taken: set[str], rep: Reporter,
            ) -> list[tuple[str, Named]]:
    seen: dict[str, tuple[str, Span]] = {}
    out: list[tuple[str, Named]] = []
    for file, d in decls:
        name = d.name.name
        if name in seen or name in taken:
            related = (seen[name],) if name in seen else ()
            rep.error("E010", file, d.name.span, f"{what} '{name}' is declared twice.",
                      hint="names are shared by all files of a project; rename one.",
                      related=related)
            continue
        seen[name] = (file, d.name.span)
        out.append((file, d))
    return out


def _frameworks(docs: Sequence[ast.Document], rep: Reporter) -> dict[str, m.Framework]:
    out = dict(BUILTIN_FRAMEWORKS)
    for _, f in _unique(_decls(docs, ast.FrameworkDecl), "framework", set(out), rep):
        out[f.name.name] = m.Framework(name=f.name.name,
                                       title="" if f.title is None else f.title.value,
                                       stages=tuple(s.name for s in f.stages))
    return out


def _defaults(docs: Sequence[ast.Document], schema: m.Schema, segments: frozenset[str],
              rep: Reporter) -> PolicyMap:
    merged: PolicyMap = {}
    first: dict[object, tuple[str, Span]] = {}
    for file, block in _decls(docs, ast.Defaults):
        scope = Scope(schema=schema, segments=segments, file=file)
        for key, value in pol.collect(block.policies, scope, rep).items():
            if key in merged:
                rep.error("E010", file, value[0].span,
                          "this default policy is declared twice for the same channel.",
                          hint="keep one of the two declarations.", related=(first[key],))
                continue
            merged[key] = value
            first[key] = (file, value[0].span)
    return merged


def compile_project(src: ProjectInput) -> tuple[m.Project, Reporter]:
    with gc_paused():
        return _compile_project(src)


def _compile_project(src: ProjectInput) -> tuple[m.Project, Reporter]:
    rep = Reporter()
    docs = src.documents
    schema = build_schema(_decls(docs, ast.Schema), rep)
    seg_decls = _unique(_decls(docs, ast.SegmentDecl), "segment", set(), rep)
    seg_names = frozenset(d.name.name for _, d in seg_decls)
    segments = {
        d.name.name: m.Segment(
            name=d.name.name, title="" if d.title is None else d.title.value,
            cond=compile_cond(d.cond, Scope(schema=schema, segments=seg_names, file=f), rep),
            location=m.Location(file=f, line=d.span.line, col=d.span.col))
        for f, d in seg_decls}
    check_segment_cycles(seg_decls, rep)
    defaults = _defaults(docs, schema, seg_names, rep)
    zone = pol.build_policies(list(defaults.values())).timezone or src.timezone
    ctx = ProjectContext(schema=schema, segments=seg_names, frameworks=_frameworks(docs, rep),
                         templates=src.templates, defaults=defaults, timezone=zone)
    playbooks = {pb.name.name: compile_playbook(pb, f, ctx, rep)
                 for f, pb in _unique(_decls(docs, ast.Playbook), "playbook", set(), rep)}
    tests = [compile_test(t, f, schema, zone, playbooks, rep, set(src.templates))
             for f, t in _decls(docs, ast.TestDecl)]
    project = m.Project(
        name=src.name, root=src.root, timezone=zone, schema_=schema, segments=segments,
        frameworks=ctx.frameworks, defaults=pol.build_policies(list(defaults.values())),
        playbooks=playbooks, tests=tuple(t for t in tests if t is not None),
        templates=src.templates)
    return project, rep
