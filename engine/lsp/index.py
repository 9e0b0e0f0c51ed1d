"""The names of one project an editor can complete and jump to, read from its parsed files.

Built from the syntax trees, not the compiled project: while a file is being edited it usually
has errors, and the compiled project is then None, yet its segments and schema are still known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cadenza.grammar import ast
from cadenza.grammar.diagnostics import Span
from cadenza.playbooks.frameworks import BUILTIN_FRAMEWORKS
from cadenza.playbooks.project import LoadedProject
from cadenza.playbooks.schema import BUILTIN_CUSTOMER, BUILTIN_EVENTS

TEMPLATE_SUFFIX = ".liquid"


@dataclass(frozen=True, slots=True)
class Symbol:
    """A declared name: where it is declared, and a short description for completion."""

    name: str
    file: str
    span: Span
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ProjectIndex:
    """Filled once by `build_index`, read-only afterwards."""

    root: Path
    segments: dict[str, Symbol] = field(default_factory=dict)
    events: dict[str, Symbol] = field(default_factory=dict)
    customer: dict[str, str] = field(default_factory=dict)  # attribute -> its type, as written
    properties: dict[str, dict[str, str]] = field(default_factory=dict)  # event -> prop -> type
    frameworks: dict[str, tuple[str, ...]] = field(default_factory=dict)  # name -> stages
    templates: dict[str, str] = field(default_factory=dict)  # name -> file


def build_index(loaded: LoadedProject) -> ProjectIndex:
    index = ProjectIndex(root=loaded.root)
    index.customer.update({k: v.type for k, v in BUILTIN_CUSTOMER.items()})
    for event, props in BUILTIN_EVENTS.items():
        index.properties[event] = {k: v.type for k, v in props.items()}
    index.frameworks.update({k: f.stages for k, f in BUILTIN_FRAMEWORKS.items()})
    for doc in loaded.documents:
        for item in doc.items:
            _add_item(index, doc.file, item)
    index.templates.update(template_files(loaded.root))
    return index


def _add_item(index: ProjectIndex, file: str, item: ast.Item) -> None:
    match item:
        case ast.SegmentDecl(name=name, title=title):
            detail = "segment" if title is None else f"segment — {title.value}"
            index.segments.setdefault(name.name, Symbol(name.name, file, name.span, detail))
        case ast.FrameworkDecl(name=name, stages=stages):
            index.frameworks[name.name] = tuple(s.name for s in stages)
        case ast.Schema(entries=entries):
            for entry in entries:
                _add_schema_entry(index, file, entry)
        case _:
            pass


def _add_schema_entry(index: ProjectIndex, file: str,
                      entry: ast.CustomerSchema | ast.EventSchema) -> None:
    fields = {f.name.name: _type_text(f) for f in entry.fields}
    if isinstance(entry, ast.CustomerSchema):
        index.customer.update(fields)
        return
    name = entry.name.name
    index.events.setdefault(name, Symbol(name, file, entry.name.span, "event"))
    index.properties.setdefault(name, {}).update(fields)


def _type_text(f: ast.Field) -> str:
    if f.members:
        return f"enum({', '.join(m.name for m in f.members)})"
    return f.type_name.name


def template_files(root: Path) -> dict[str, str]:
    """Template name (its path under templates/, without .liquid) -> its file, as the loader
    names them."""
    folder = root / "templates"
    if not folder.is_dir():
        return {}
    return {p.relative_to(folder).as_posix().removesuffix(TEMPLATE_SUFFIX): str(p)
            for p in sorted(folder.rglob(f"*{TEMPLATE_SUFFIX}"))}
