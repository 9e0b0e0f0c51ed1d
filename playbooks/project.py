"""A project directory -> parsed, compiled and checked, with every diagnostic of every file.

Layout: `*.play` files anywhere (but in `data/`, `templates/` and dot-folders), Liquid
templates in `templates/`, sample data in `data/`, and an optional `cadenza.toml`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from cadenza.grammar import ast
from cadenza.grammar.diagnostics import Diagnostic, Span
from cadenza.grammar.gcpause import gc_paused
from cadenza.grammar.parser import decode, parse_bytes
from cadenza.playbooks import model as m
from cadenza.playbooks.compiler import ProjectInput, compile_project
from cadenza.playbooks.conflicts import find_conflicts
from cadenza.playbooks.policies import valid_zone
from cadenza.playbooks.templates import load_template

CONFIG_FILE = "cadenza.toml"
SKIP_DIRS = frozenset({"data", "templates", "node_modules", "__pycache__"})


class ProjectSettings(BaseModel):
    """The `[project]` table of cadenza.toml."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str | None = None
    timezone: str = "UTC"


@dataclass
class LoadedProject:
    root: Path
    project: m.Project | None
    diagnostics: list[Diagnostic]
    sources: dict[str, str] = field(default_factory=dict)
    documents: list[ast.Document] = field(default_factory=list)  # what each file parsed to

    @property
    def ok(self) -> bool:
        return self.project is not None

    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]


def find_root(path: Path) -> Path:
    """A directory is a project; a file belongs to the nearest folder with cadenza.toml."""
    if path.is_dir():
        return path
    for folder in (path.parent, *path.parent.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    return path.parent


def play_files(root: Path) -> list[Path]:
    """The project's .play files; a folder below with its own cadenza.toml is another project."""
    return _own_files(root, _nested_roots(root))


def project_roots(path: Path) -> list[Path]:
    """The projects a path given on the command line names: a file's project; a directory
    that is a project (cadenza.toml, or .play files of its own); and every project below it,
    so `cadenza validate examples` checks each example on its own."""
    if not path.is_dir():
        return [find_root(path)]
    nested = _nested_roots(path)
    own = (path / CONFIG_FILE).is_file() or bool(_own_files(path, nested)) or not nested
    return [path] * own + nested


def _own_files(root: Path, nested: list[Path]) -> list[Path]:
    found = []
    for p in sorted(root.rglob("*.play")):
        rel = p.relative_to(root).parts[:-1]
        if any(part in SKIP_DIRS or part.startswith(".") for part in rel) or not p.is_file():
            continue  # a folder named `x.play` holds files; it is not one
        if any(p.is_relative_to(n) for n in nested):
            continue
        found.append(p)
    return found


def _nested_roots(root: Path) -> list[Path]:
    """Folders below `root` holding a cadenza.toml, outermost only."""
    found: list[Path] = []
    for config in sorted(root.rglob(CONFIG_FILE)):
        folder = config.parent
        rel = folder.relative_to(root).parts
        if not rel or any(part in SKIP_DIRS or part.startswith(".") for part in rel):
            continue
        if not any(folder.is_relative_to(f) for f in found):
            found.append(folder)
    return found


def _settings(root: Path) -> tuple[ProjectSettings, list[Diagnostic]]:
    path = root / CONFIG_FILE
    file = str(path)
    if not path.is_file():
        return ProjectSettings(name=root.resolve().name), []
    try:
        data = tomllib.loads(path.read_text("utf-8-sig"))
        settings = ProjectSettings.model_validate(data.get("project", {}))
    except OSError as exc:
        return ProjectSettings(), [unreadable(path, exc)]
    except UnicodeDecodeError as exc:
        return ProjectSettings(), [Diagnostic(
            code="E050", file=file, span=Span.point(1, 1),
            message=f"cadenza.toml is not valid UTF-8: byte {exc.object[exc.start]:#x} at "
                    f"offset {exc.start} cannot be decoded.",
            hint="save the file as UTF-8 (every editor offers it).")]
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", 1) or 1
        col = getattr(exc, "colno", 1) or 1
        return ProjectSettings(), [Diagnostic(
            code="E050", file=file, span=Span.point(line, col),
            message=f"cadenza.toml is not valid TOML: {exc}.",
            hint="see docs/language.md, 'Project layout'.")]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        return ProjectSettings(), [Diagnostic(
            code="E050", file=file, span=Span.point(1, 1),
            message=f"cadenza.toml [project] {where}: {first['msg']}.",
            hint="[project] accepts 'name' and 'timezone'.")]
    if not valid_zone(settings.timezone):
        return settings.model_copy(update={"timezone": "UTC"}), [Diagnostic(
            code="E021", file=file, span=Span.point(1, 1),
            message=f"unknown time zone '{settings.timezone}' in cadenza.toml.",
            hint='use an IANA zone name such as "America/New_York".')]
    return settings.model_copy(update={"name": settings.name or root.resolve().name}), []


def _no_files(root: Path) -> Diagnostic:
    """E051; for a folder that holds projects (each with a cadenza.toml), which to name."""
    nested = [p.relative_to(root).as_posix() for p in _nested_roots(root)]
    if not nested:
        return Diagnostic(code="E051", file=str(root), span=Span.point(1, 1),
                          message=f"no .play files were found in '{root}'.",
                          hint="run 'cadenza init DIR' to start a project.")
    listed = ", ".join(nested[:5]) + (", ..." if len(nested) > 5 else "")
    return Diagnostic(
        code="E051", file=str(root), span=Span.point(1, 1),
        message=f"'{root}' is not a project: it has no .play files of its own, and holds "
                f"the project{'s' if len(nested) > 1 else ''} {listed} "
                f"({'each with its' if len(nested) > 1 else 'with its'} {CONFIG_FILE}).",
        hint=f"name the project's folder instead: 'cadenza simulate {nested[0]}', "
             f"'cadenza graph NAME --project {nested[0]}'.")


def load_project(path: Path, buffers: Mapping[Path, str] | None = None) -> LoadedProject:
    """`buffers`: unsaved editor texts by resolved path, read instead of those files on disk."""
    with gc_paused():  # one pause for every file, the compiler and the checks
        return _load_project(path, buffers)


def _load_project(path: Path, buffers: Mapping[Path, str] | None) -> LoadedProject:
    root = find_root(path)
    settings, diagnostics = _settings(root)
    documents: list[ast.Document] = []
    sources: dict[str, str] = {}
    files = play_files(root)
    if not files:
        diagnostics.append(_no_files(root))
    for file in files:
        text = buffers.get(file.resolve()) if buffers else None
        data = _read(file, diagnostics) if text is None else text.encode("utf-8")
        if data is None:
            continue
        doc, found = parse_bytes(data, str(file))
        sources[str(file)] = data.decode("utf-8-sig", errors="replace")
        diagnostics.extend(found)
        if doc is not None:
            documents.append(doc)
    templates, template_sources = _templates(root, diagnostics)
    sources.update(template_sources)
    project, rep = compile_project(ProjectInput(
        name=settings.name or root.name, root=str(root), timezone=settings.timezone,
        documents=documents, templates=templates))
    diagnostics.extend(_without_echoes(rep.diagnostics, diagnostics, sources))
    failed = any(d.is_error for d in diagnostics)
    if not failed:  # on a graph with errors, conflicts would be guesses about guesses
        diagnostics.extend(find_conflicts(project))
    diagnostics.sort(key=Diagnostic.sort_key)
    return LoadedProject(root=root, project=None if failed else project,
                         diagnostics=diagnostics, sources=sources, documents=documents)


SYNTAX_CODES = frozenset({"E001", "E002", "E003", "E004"})


def _without_echoes(found: list[Diagnostic], earlier: list[Diagnostic],
                    sources: Mapping[str, str]) -> list[Diagnostic]:
    """Drop findings on a line that already has a syntax error: recovery guessed there. Also
    "no entry" (E042) in a file whose broken line is a `when ...`: recovery skipped the entry
    the author did write (`when every monday 10:00`), and the syntax error says what to fix."""
    broken = {(d.file, d.span.line) for d in earlier if d.code in SYNTAX_CODES}
    lines = {file: text.splitlines() for file, text in sources.items()}
    return [d for d in found if (d.file, d.span.line) not in broken
            and not (d.code == "E042" and _broken_entry(d, broken, lines.get(d.file, [])))]


def _broken_entry(d: Diagnostic, broken: set[tuple[str, int]], lines: list[str]) -> bool:
    """A `when` line with a syntax error inside the playbook named at `d` (before the next
    playbook starts)."""
    for n in range(d.span.line + 1, len(lines) + 1):
        text = lines[n - 1].lstrip()
        if text.startswith("playbook "):
            return False
        if text.startswith("when ") and (d.file, n) in broken:
            return True
    return False


def _read(path: Path, diagnostics: list[Diagnostic]) -> bytes | None:
    """The file's bytes, or None with an E052 saying why it could not be read (a permission,
    a file removed mid-walk): one unreadable file must not hide the others' findings."""
    try:
        return path.read_bytes()
    except OSError as exc:
        diagnostics.append(unreadable(path, exc))
        return None


def unreadable(path: Path, exc: OSError) -> Diagnostic:
    reason = exc.strerror or type(exc).__name__
    return Diagnostic(
        code="E052", file=str(path), span=Span.point(1, 1),
        message=f"'{path}' cannot be read: {reason}.",
        hint="check the file's permissions (the user running cadenza must be able to read it).")


def _templates(root: Path, diagnostics: list[Diagnostic],
               ) -> tuple[dict[str, m.Template], dict[str, str]]:
    folder = root / "templates"
    templates: dict[str, m.Template] = {}
    sources: dict[str, str] = {}
    if not folder.is_dir():
        return templates, sources
    for path in sorted(p for p in folder.rglob("*.liquid") if p.is_file()):
        if (data := _read(path, diagnostics)) is None:
            continue
        text, problems = decode(data, str(path))
        diagnostics.extend(problems)
        if text is None:
            continue
        t = load_template(path, root, text)
        templates[t.name] = t
        sources[t.file] = text
    return templates, sources
